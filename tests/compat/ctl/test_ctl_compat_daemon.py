"""supervisorctl vs corralctl: unreachable servers, auth, reload/shutdown, the shell, tail -f.

Normalised: uptimes; the argv0 in usage errors; python file paths and line numbers in the
`error: <class ...>, ...: file: <path> line: <n>` lines (compared by shape).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ctlpeer import (
    Daemon,
    Run,
    _env,
    _tool,
    assert_same,
    both,
    free_port,
    run_ours,
    run_real,
    start_daemon,
)
from tests.support import wait_until

pytestmark = pytest.mark.compat

ERROR_LINE = re.compile(r"^error: <class '([\w.]+)'>, (.*): file: \S+ line: \d+$")


def same_error_shape(real: Run, ours: Run) -> None:
    """Both print one `error: <class X>, msg: file: F line: N` line with the same X and msg."""
    r, o = ERROR_LINE.match(real.out.strip()), ERROR_LINE.match(ours.out.strip())
    assert r is not None, real.out
    assert o is not None, ours.out
    assert o.groups() == r.groups()
    assert ours.rc == real.rc == 1


DOWN_CASES = [
    ["status"], ["start", "x"], ["stop", "x"], ["version"], ["pid"], ["tail", "x"],
    ["tail", "-f", "x"], ["maintail"], ["clear", "x"], ["fg", "x"], ["shutdown"],
    ["status", "x"], ["start"],
]  # fmt: skip
# Over TCP only the refused-connection wording differs; a few commands cover it.
CASES = [("unix", w) for w in DOWN_CASES] + [
    ("http", w) for w in (["status"], ["start", "x"], ["shutdown"], ["pid"])
]


@pytest.mark.parametrize(
    ("kind", "words"), CASES, ids=lambda c: " ".join(c) if isinstance(c, list) else c
)
def test_daemon_down(tmp_path: Path, kind: str, words: list[str]) -> None:
    url = f"unix://{tmp_path}/nosock" if kind == "unix" else f"http://127.0.0.1:{free_port()}"
    real, ours = both(["-s", url, *words])
    assert url in real.out
    assert_same(real, ours)


@pytest.mark.parametrize("kind", ["unix", "http"])
@pytest.mark.parametrize("words", [["reread"], ["avail"], ["update"], ["add", "x"]])
def test_daemon_down_without_upcheck(tmp_path: Path, kind: str, words: list[str]) -> None:
    """4.3 prints an internal `error: <class ...>: file: ... line: ...` line here (a weak
    spot); corralctl says what the up-checked commands say, with 4.3's exit code."""
    url = f"unix://{tmp_path}/nosock" if kind == "unix" else f"http://127.0.0.1:{free_port()}"
    real, ours = both(["-s", url, *words])
    assert ERROR_LINE.match(real.out.strip()), real.out
    why = "no such file" if kind == "unix" else "refused connection"
    assert ours.out == f"{url} {why}\n"
    assert ours.rc == real.rc == 1


def test_usage_errors(tmp_path: Path) -> None:
    for args in (
        ["--bogus"],
        ["-s", "foo", "status"],
        ["-c", f"{tmp_path}/none"],
        ["-c", "a", "--configuration", "b"],
    ):
        real, ours = run_real(args), run_ours(args)
        assert (ours.out, ours.rc) == (real.out, real.rc) == ("", 2)
        r, o = real.err.splitlines(), ours.err.splitlines()
        assert o[0] == r[0]
        assert o[1].startswith("For help, use ") and o[1].endswith(" -h")


def test_config_without_ctl_section(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text("[supervisord]\n")
    real, ours = run_real(["-c", str(conf), "status"]), run_ours(["-c", str(conf), "status"])
    assert real.err.splitlines()[0] == "Error: .ini file does not include supervisorctl section"
    assert ours.err.splitlines()[0] == real.err.splitlines()[0]
    assert ours.rc == real.rc == 2


def test_help_flag() -> None:
    ours = run_ours(["-h"])
    assert ours.rc == 0 and "Usage:" in ours.out


def test_open(sd: Daemon, tmp_path: Path) -> None:
    base = ["-c", str(sd.conf)]
    assert_same(*both([*base, "open", sd.url]))
    assert_same(*both([*base, "open", f"unix://{tmp_path}/nosock"]))


def test_shell_runs_status_first_and_leaves_on_eof(sd: Daemon) -> None:
    # stdin is a pipe, so input() prompts on stdout without readline: output is exact.
    args = ["-c", str(sd.conf)]
    for stdin in ("version\npid nosuch\n\nbogus\n", "help\nquit\n", "status nosuch\n"):
        real, ours = both(args, stdin=stdin)
        assert real.out.startswith("app ")
        assert_same(real, ours)
        assert ours.rc == real.rc == 0


def test_unknown_method_without_rpcinterface(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, "", rpc=False)
    try:
        real, ours = both(["-c", str(daemon.conf), "status"])
        assert real.out.startswith("Sorry, supervisord responded but did not recognize")
        assert_same(real, ours)
        real, ours = both(["-c", str(daemon.conf), "pid"])
        assert real.rc == 3
        assert_same(real, ours)
    finally:
        daemon.stop()


def test_auth(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, "", auth=("user", "secret"))
    conf = str(daemon.conf)
    try:
        real, ours = both(["-c", conf, "version"])
        # 4.3 adds an internal `error: <class ...ProtocolError'>...: file: ...` line (a weak
        # spot); corralctl says only what is wrong, with the same exit code.
        assert real.out.splitlines()[0] == "Server requires authentication"
        assert ERROR_LINE.match(real.out.splitlines()[1])
        assert ours.out == "Server requires authentication\n"
        assert ours.rc == real.rc == 1
        assert_same(*both(["-c", conf, "-u", "user", "-p", "secret", "version"]))
        # -u alone sends no credentials at all.
        real, ours = both(["-c", conf, "-u", "user", "version"])
        assert ours.out.splitlines()[0] == real.out.splitlines()[0]
        # Interactive: prompt, then retry with what was typed (getpass falls back to stdin).
        real, ours = both(["-i", "-c", conf, "version"], stdin="user\nsecret\n")
        assert real.out.endswith("4.3.0\n")
        assert_same(real, ours, stderr=False)
    finally:
        daemon.stop()


def test_shutdown_and_reload(tmp_path: Path) -> None:
    outputs: dict[str, list[Run]] = {"reload": [], "shutdown": []}
    for i, runner in enumerate((run_real, run_ours)):
        daemon = start_daemon(tmp_path / str(i), "")
        try:
            outputs["reload"].append(runner(["-c", str(daemon.conf), "reload"]))
            # the daemon answers until it restarts: wait for the restart itself, not a delay
            log = daemon.dir / "supervisord.log"
            wait_until(
                lambda log=log: log.read_text().count("started with pid") >= 2, what="restart"
            )
            daemon.wait_ready()
            outputs["shutdown"].append(runner(["-c", str(daemon.conf), "shutdown"]))
            daemon.proc.wait(timeout=15)
            # Already gone: refused/no such file, told as "already shut down?".
            outputs["shutdown"].append(runner(["-c", str(daemon.conf), "shutdown"]))
        finally:
            daemon.stop()
    assert outputs["reload"][0].out == "Restarted supervisord\n"
    assert outputs["shutdown"][0].out == "Shut down\n"
    assert outputs["shutdown"][1].out.startswith("ERROR: unix://")
    assert_same(outputs["reload"][0], outputs["reload"][1])
    real_sd, ours_sd = outputs["shutdown"][0], outputs["shutdown"][2]
    assert_same(real_sd, ours_sd)
    real_gone, ours_gone = outputs["shutdown"][1], outputs["shutdown"][3]
    assert ours_gone.out.replace(f"{tmp_path}/1", "X") == real_gone.out.replace(
        f"{tmp_path}/0", "X"
    )
    assert ours_gone.rc == real_gone.rc == 1


def _follow(argv: list[str], shown: Callable[[bytes], bool]) -> tuple[bytes, bytes, int]:
    """Run a following tail until what it printed satisfies `shown`, then Ctrl-C it."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    assert proc.stdout is not None
    seen = b""
    os.set_blocking(proc.stdout.fileno(), False)

    def more() -> bool:
        nonlocal seen
        seen += proc.stdout.read() or b""  # type: ignore[union-attr]
        return shown(seen)

    try:
        wait_until(more, timeout=30, interval=0.05, what=f"{argv[0]} to show the log")
    finally:
        proc.send_signal(signal.SIGINT)
    os.set_blocking(proc.stdout.fileno(), True)
    out, err = proc.communicate(timeout=10)
    return seen + out, err, proc.returncode


def test_tail_follow(sd: Daemon) -> None:
    def shown(out: bytes) -> bool:
        return b"hello out\n" in out

    real = _follow([_tool("supervisorctl"), "-c", str(sd.conf), "tail", "-f", "app"], shown)
    ours = _follow(
        [sys.executable, "-m", "corral.ctl.main", "-c", str(sd.conf), "tail", "-f", "app"], shown
    )
    assert real[0].startswith(b"==> Press Ctrl-C to exit <==\nhello out\n")
    assert ours == real


def test_tail_follow_unknown_process(sd: Daemon) -> None:
    real, ours = both(["-c", str(sd.conf), "tail", "-f", "nosuch"])
    assert "Cannot read, status code 404" in real.err
    assert_same(real, ours)


def test_maintail_follow(sd: Daemon) -> None:
    args = ["-c", str(sd.conf), "maintail", "-f"]

    def shown(out: bytes) -> bool:  # at least one whole line of the main log
        return b"INFO" in out and out.endswith(b"\n")

    real = _follow([_tool("supervisorctl"), *args], shown)
    ours = _follow([sys.executable, "-m", "corral.ctl.main", *args], shown)
    assert ours[0].splitlines()[0] == real[0].splitlines()[0] == b"==> Press Ctrl-C to exit <=="
    assert ours[0].endswith(b"\n")
    assert (ours[1], ours[2]) == (real[1], real[2])
