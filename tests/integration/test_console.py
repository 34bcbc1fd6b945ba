"""The console: every program's lines on corrald's own stdout, as `docker logs` shows it.

corrald runs with its stdout on a real file or a real pipe; the programs write numbered,
checksummed lines (fixtures/programs/liner.py), so a line that was cut, mixed with another
program's, or lost is found."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import zlib
from collections import defaultdict
from pathlib import Path
from typing import IO

from tests.support import Daemon, prog, wait_until
from tests.unit.logs.test_logs_backpressure import blocked_in_write

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"
PY = sys.executable
RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def liner(name: str, count: int, maxlen: int, then: str = "exit", **opts: object) -> str:
    opts.setdefault("startsecs", 0)
    opts.setdefault("autorestart", "false")
    return prog(name, f"{PY} {FIX}/liner.py {name} {count} {maxlen} {then}", **opts)


def check_body(name: str, body: bytes) -> int:
    """A liner line's sequence number, after checking it is whole and is `name`'s."""
    who, seq, crc, payload = body.split(b" ")
    assert who.decode() == name, body[:80]
    assert int(crc, 16) == zlib.crc32(payload), f"{name} line {seq!r} was damaged"
    return int(seq)


def check_prefixed(out: bytes, counts: dict[str, int]) -> None:
    """Every line `name<pad> | body`, padded to the longest name; every line of every
    program there exactly once."""
    width = max(len(n) for n in [*counts, "corrald"])
    seen: dict[str, list[int]] = defaultdict(list)
    for line in out.split(b"\n")[:-1]:
        m = re.fullmatch(rb"(\S+) *\| (.*)", line, re.S)
        assert m is not None, line[:120]
        assert line.index(b"|") == width + 1, line[:120]
        name = m.group(1).decode()
        if name == "corrald":
            continue
        seen[name].append(check_body(name, m.group(2)))
    for name, count in counts.items():
        assert sorted(seen[name]) == list(range(count)), f"{name}: lines lost or repeated"


def all_exited(d: Daemon, names: list[str]) -> bool:
    return all(d.info(n)["statename"] == "EXITED" for n in names)


class Reader:
    """Reads corrald's stdout pipe on a thread, as docker does, once `go` is set."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self.data = bytearray()
        self.go = threading.Event()
        self._pipe = pipe
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.go.wait()
        while chunk := self._pipe.read1(1 << 16):  # type: ignore[attr-defined]
            self.data += chunk

    def join(self) -> bytes:
        """All corrald wrote, once it has exited (its end of the pipe closed)."""
        self._thread.join(30)
        assert not self._thread.is_alive(), "corrald's stdout never ended"
        self._pipe.close()
        return bytes(self.data)


def test_every_program_line_is_prefixed_and_log_files_are_still_written(tmp_path: Path) -> None:
    out = tmp_path / "console.out"
    d = Daemon(
        tmp_path,
        liner(
            "web", 40, 60, stdout_logfile=tmp_path / "web.log", stderr_logfile=tmp_path / "web.err"
        )
        + liner("worker_longer", 40, 60),
        supervisord="console=true",
    )
    with out.open("wb") as f:
        d.start(stdout=f)
    wait_until(lambda: all_exited(d, ["web", "worker_longer"]), what="both to finish")
    d.stop()
    text = out.read_bytes()
    check_prefixed(text, {"web": 40, "worker_longer": 40})
    assert b"corrald       | INFO spawned: 'web' with pid" in text
    # the console is an extra sink: the log files have their lines as before
    logged = (tmp_path / "web.log").read_bytes() + (tmp_path / "web.err").read_bytes()
    assert sorted(check_body("web", ln) for ln in logged.splitlines()) == list(range(40))


def test_twenty_writers_through_a_pipe_never_mix_inside_a_line(tmp_path: Path) -> None:
    names = [f"w{i:02d}" for i in range(20)]
    # lines up to 20 KB, written in big buffered writes: pipe reads end mid-line
    programs = "".join(liner(n, 300, 20_000) for n in names)
    d = Daemon(tmp_path, programs, supervisord="console=true")
    d.start(stdout=subprocess.PIPE)
    assert d.proc is not None and d.proc.stdout is not None
    reader = Reader(d.proc.stdout)
    reader.go.set()
    wait_until(lambda: all_exited(d, names), timeout=120, what="the writers to finish")
    d.stop()
    check_prefixed(reader.join(), dict.fromkeys(names, 300))


def test_a_console_nobody_reads_holds_the_programs_and_loses_nothing(tmp_path: Path) -> None:
    names = ["a", "b", "c", "d"]
    # ~2 MB each: far more than the console's buffer and the pipe together
    programs = "".join(liner(n, 2000, 2000) for n in names)
    d = Daemon(tmp_path, programs, supervisord="console=true")
    d.start(stdout=subprocess.PIPE)
    assert d.proc is not None and d.proc.stdout is not None
    reader = Reader(d.proc.stdout)  # not reading yet
    pids = [d.info(n)["pid"] for n in names]
    wait_until(
        lambda: any(pid and blocked_in_write(pid) for pid in pids),
        timeout=60,
        what="a program to block on its full pipe",
    )
    # the daemon is not blocked: it answers, and nobody finished while held
    assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
    assert not all_exited(d, names)
    reader.go.set()
    wait_until(lambda: all_exited(d, names), timeout=120, what="the writers to finish")
    d.stop()
    check_prefixed(reader.join(), dict.fromkeys(names, 2000))


def test_json_lines_name_process_group_and_stream(tmp_path: Path) -> None:
    out = tmp_path / "console.out"
    d = Daemon(
        tmp_path,
        liner("api", 30, 100) + liner("cron", 30, 100),
        supervisord="console=true\nconsole_format=json",
    )
    with out.open("wb") as f:
        d.start(stdout=f)
    wait_until(lambda: all_exited(d, ["api", "cron"]), what="both to finish")
    d.stop()
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    daemon_lines = 0
    for line in out.read_text().splitlines():
        record = json.loads(line)
        assert re.fullmatch(RFC3339, record["time"])
        if record["process"] == "corrald":
            assert record["stream"] == "log" and record["level"] in ("INFO", "WARN", "CRIT")
            daemon_lines += 1
            continue
        assert record["group"] == record["process"]
        seq = check_body(record["process"], record["message"].encode())
        seen[(record["process"], record["stream"])].append(seq)
    assert daemon_lines > 0
    for name in ("api", "cron"):
        # liner sends every seventh line to stderr
        assert seen[(name, "stderr")] == [s for s in range(30) if s % 7 == 6]
        assert seen[(name, "stdout")] == [s for s in range(30) if s % 7 != 6]


def test_console_stderr_puts_a_programs_stderr_lines_on_corralds_stderr(
    tmp_path: Path,
) -> None:
    out, err = tmp_path / "console.out", tmp_path / "corrald.stderr"
    d = Daemon(
        tmp_path,
        prog("loud", "sh -c 'echo to-out; echo to-err >&2; sleep 100'", console_stderr="stderr"),
        supervisord="console=true",
    )
    with out.open("wb") as f:
        d.start(stdout=f)
    wait_until(lambda: b"loud    | to-out" in out.read_bytes(), what="loud's stdout line")
    wait_until(lambda: "loud    | to-err" in err.read_text(), what="loud's stderr line")
    d.stop()
    assert b"to-err" not in out.read_bytes()


def test_program_console_false_leaves_it_out(tmp_path: Path) -> None:
    out = tmp_path / "console.out"
    d = Daemon(
        tmp_path,
        prog("chatty", "sh -c 'echo noise; sleep 100'", startsecs=0, console="false")
        + prog("app", "sh -c 'echo signal; sleep 100'", startsecs=0),
        supervisord="console=true",
    )
    with out.open("wb") as f:
        d.start(stdout=f)
    wait_until(lambda: b"app     | signal" in out.read_bytes(), what="app's line")
    d.wait_state("chatty", "RUNNING")
    d.stop()
    assert b"noise" not in out.read_bytes()


def test_log_timestamps_stamp_file_lines_and_tail_serves_them(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    d = Daemon(
        tmp_path,
        prog(
            "app",
            "sh -c 'echo one; printf tw; sleep 0.2; echo o; sleep 100'",
            startsecs=0,
            stdout_logfile=log,
            log_timestamps="true",
        ),
    )
    d.start()
    wait_until(lambda: log.exists() and log.read_text().count("\n") >= 2, what="two lines")
    lines = log.read_text().splitlines()
    assert re.fullmatch(RFC3339 + " one", lines[0])
    assert re.fullmatch(RFC3339 + " two", lines[1])  # stamped once, where it began
    tail = d.rpc.supervisor.tailProcessStdoutLog("app", 0, 1000)[0]
    assert tail == log.read_text()


def test_console_timestamps_on_prefixed_lines(tmp_path: Path) -> None:
    out = tmp_path / "console.out"
    d = Daemon(
        tmp_path,
        prog("app", "sh -c 'echo hi; sleep 100'", startsecs=0),
        supervisord="console=true\nconsole_timestamps=true",
    )
    with out.open("wb") as f:
        d.start(stdout=f)
    wait_until(lambda: b"| hi" in out.read_bytes(), what="app's line")
    d.stop()
    (line,) = [ln for ln in out.read_text().splitlines() if ln.endswith("| hi")]
    assert re.fullmatch(RFC3339 + r" app     \| hi", line)
