"""A daemon whose stdout is a pipe nobody reads, with a program logging to /dev/stdout:
the program blocks on its own pipe, the daemon does not. RPCs are answered at once,
other programs' logs keep flowing, and once the pipe is read nothing of the blocked
program's output is missing or out of order."""

from __future__ import annotations

import array
import fcntl
import os
import re
import statistics
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from tests.support import STARTED, Daemon, env_for_children, prog, wait_until

LINES = 50_000  # 4 MB: far more than the stdout pipe, the program's pipe and a held read
MAINLOG_LINE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} [^\n]*\n")
RPC_FIGURE = 0.100  # the figure, for the median
RPC_CEILING = 1.0  # no single call near it on a loaded machine; a frozen loop never answers


def blocked_in_write(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_write")
    except OSError:
        return False


def pipe_bytes(fd: int) -> tuple[int, int]:
    """(bytes held, capacity) of the pipe whose read end is `fd`."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    return buf[0], fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def held_back(pid: int, fd: int) -> bool:
    """Is the program blocked in write because the daemon holds it back? The program blocks
    for a moment whenever it fills its pipe faster than the daemon reads it; held back, it
    stays blocked while the daemon's stdout (read end `fd`), nearly full, does not move."""
    held, size = pipe_bytes(fd)
    if held < size * 3 // 4 or not blocked_in_write(pid):
        return False
    time.sleep(0.3)
    return pipe_bytes(fd)[0] == held and blocked_in_write(pid)


class Drain(threading.Thread):
    """Reads the daemon's stdout once told to, until EOF."""

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.data = bytearray()
        self.go = threading.Event()

    def run(self) -> None:
        self.go.wait()
        while chunk := os.read(self.fd, 1 << 16):
            self.data += chunk


def test_an_unread_stdout_pipe_blocks_only_the_program_writing_to_it(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked.py"
    blocked.write_text(
        "import sys\n"
        f"for i in range({LINES}):\n"
        "    sys.stdout.write('%07d %s\\n' % (i, 'b' * 72))\n"
        "sys.stdout.flush()\n"
    )
    other = tmp_path / "other.py"
    other.write_text(
        "import sys, time\nwhile True:\n    print('tick', flush=True); time.sleep(0.01)\n"
    )
    other_log = tmp_path / "other.log"
    d = Daemon(
        tmp_path,
        prog(
            "blocked",
            f"{sys.executable} {blocked}",
            startsecs=0,
            autorestart="false",
            stdout_logfile="/dev/stdout",
            stdout_logfile_maxbytes=0,
        )
        + prog("other", f"{sys.executable} {other}", startsecs=0, stdout_logfile=other_log),
    )
    r, w = os.pipe()
    with open(tmp_path / "corrald.stderr", "wb") as errfile:
        d.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(d.conf)],
            env=env_for_children(),
            stdout=w,  # a pipe the test holds open and does not read
            stderr=errfile,
            start_new_session=True,
        )
    os.close(w)
    STARTED.append(d)
    drain = Drain(r)
    drain.start()
    try:
        wait_until(d._answers, timeout=15, what="corrald to answer")
        pid = wait_until(lambda: d.info("blocked")["pid"], what="blocked to run")
        wait_until(lambda: held_back(pid, r), timeout=30, what="blocked to be held back")

        # the daemon answers at once while the program is blocked
        times = []
        for call in ("getState", "getAllProcessInfo", "getPID", "getAllProcessInfo", "getState"):
            started = time.monotonic()
            getattr(d.rpc.supervisor, call)()
            times.append(time.monotonic() - started)
        assert statistics.median(times) < RPC_FIGURE, times
        assert max(times) < RPC_CEILING, times
        assert d.info("blocked")["statename"] == "RUNNING"
        assert blocked_in_write(pid)  # still held back, not drained into memory

        # another program's log keeps growing meanwhile
        size = other_log.stat().st_size
        wait_until(lambda: other_log.stat().st_size > size + 100, what="other.log to grow")

        drain.go.set()
        d.wait_state("blocked", "EXITED", timeout=60)
        expected_tail = b"%07d " % (LINES - 1)
        wait_until(lambda: expected_tail in drain.data, timeout=30, what="the last line")
    finally:
        drain.go.set()
        d.stop()
        drain.join(10)
        os.close(r)
    # the main log's echo shares the pipe: take its lines out (one may sit inside a
    # program line, where a read of the program's pipe ended mid-line)
    program = MAINLOG_LINE.sub(b"", bytes(drain.data))
    numbers = [int(m) for m in re.findall(rb"^(\d{7}) b{72}$", program, re.MULTILINE)]
    assert numbers == list(range(LINES))
