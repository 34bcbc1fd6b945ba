"""A log file that cannot be written (disk full, file too large) is said once in the main log,
with the bytes lost counted when writes succeed again; the program is never blocked."""

from __future__ import annotations

import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

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
