"""A log file that cannot be written (disk full, file too large) is said once in the main log,
with the bytes lost counted when writes succeed again; the program is never blocked."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Daemon, env_for_children, prog, wait_until

LIMIT = 32 * 1024  # RLIMIT_FSIZE: a write past it fails with EFBIG, as a full disk does


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_failing_log_write_is_logged_once_and_the_loss_counted(tmp_path: Path) -> None:
    writer = tmp_path / "writer.py"
    writer.write_text(
        "import sys, time\n"
        "while True:\n"
        "    sys.stdout.write('x' * 1023 + '\\n'); sys.stdout.flush(); time.sleep(0.005)\n"
    )
    out = tmp_path / "w.out"
    d = Daemon(
        tmp_path,
        prog(
            "w",
            f"{sys.executable} {writer}",
            startsecs=0,
            stdout_logfile=out,
            stdout_logfile_maxbytes=0,
        ),
    )
    d.proc = subprocess.Popen(
        [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(d.conf)],
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=limited,
    )
    try:
        wait_until(d._answers, timeout=15, what="corrald to answer")
        d.wait_log("can't write w stdout log", timeout=30)
        wait_until(lambda: out.stat().st_size >= LIMIT, what="the log at its limit")
        before = d.rpc.supervisor.getProcessInfo("w")["pid"]
        assert d.log().count("can't write w stdout log") == 1
        assert "File too large" in d.log()
        d.rpc.supervisor.clearProcessLogs("w")  # room again
        text = d.wait_log("writable again", timeout=30)
        lost = re.search(r"w stdout log \S+ writable again; (\d+) bytes were lost", text)
        assert lost is not None and int(lost.group(1)) > 0
        # the program was never blocked, and is the same process
        info = d.rpc.supervisor.getProcessInfo("w")
        assert info["statename"] == "RUNNING" and info["pid"] == before
        assert d.log().count("can't write w stdout log") <= 2  # a new episode after the clear
    finally:
        d.stop()


def test_a_full_log_filesystem_is_said_once_and_writing_resumes_when_space_returns(
    tmp_path: Path,
) -> None:
    """A real full disk: a 256 KiB tmpfs for the program's log, most of it taken by a file
    the test removes later."""
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(logs)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"cannot mount a tmpfs (root): {e}")
    try:
        filler = logs / "filler"
        filler.write_bytes(b"f" * 160 * 1024)
        writer = tmp_path / "writer.py"
        writer.write_text(
            "import sys, time\n"
            "while True:\n"
            "    sys.stdout.write('x' * 1023 + '\\n'); sys.stdout.flush(); time.sleep(0.005)\n"
        )
        out = logs / "w.out"
        d = Daemon(
            tmp_path,
            prog(
                "w",
                f"{sys.executable} {writer}",
                startsecs=0,
                stdout_logfile=out,
                stdout_logfile_maxbytes=0,
            ),
        ).start()
        try:
            d.wait_log("can't write w stdout log", timeout=30)
            assert "No space left on device" in d.log()
            before = d.info("w")["pid"]
            # the daemon serves, the program runs on, and the failure is said once, not per write
            for _ in range(20):
                assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
            assert d.info("w")["statename"] == "RUNNING"
            assert d.log().count("can't write w stdout log") == 1
            filler.unlink()  # room again
            text = d.wait_log("writable again", timeout=30)
            lost = re.search(r"w stdout log \S+ writable again; (\d+) bytes were lost", text)
            assert lost is not None and int(lost.group(1)) > 0
            size = out.stat().st_size
            wait_until(lambda: out.stat().st_size > size + 8192, what="the log to grow again")
            info = d.info("w")
            assert info["statename"] == "RUNNING" and info["pid"] == before
            # the freed room fills up again within a second: that is a new episode, said anew
            assert d.log().count("can't write w stdout log") <= 2
            assert "Traceback" not in d.log()
        finally:
            d.stop()
    finally:
        subprocess.run(["umount", "-l", str(logs)], capture_output=True, timeout=30)
