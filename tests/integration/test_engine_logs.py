"""Logs through a real corrald: /dev/stdout as a target (containers), the main log's own
rotation and reopen, child log files across restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support import SRC, Daemon, env_for_children, wait_until

MAIN = str(Path(SRC) / "corral" / "daemon" / "main.py")


def _run_to_stdout(d: Daemon, stdout: int, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, MAIN, "-n", "-c", str(d.conf), *args],
        env=env_for_children(),
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )
    d.proc = proc
    wait_until(d._answers, timeout=15, what="corrald to answer")
    return proc


CONSOLE = """
[program:console]
command=/bin/sh -c "echo out-line && echo err-line >&2 && exec sleep 100"
startsecs=0
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=1MB
stderr_logfile=/dev/stdout
stderr_logfile_maxbytes=50
"""


@pytest.mark.parametrize("kind", ["pipe", "file"])
def test_container_logging_to_dev_stdout(tmp_path: Path, kind: str) -> None:
    # the main log and the program's output all on the daemon's stdout, rotation settings
    # and all: nothing fails, nothing is doubled, and /dev/stdout itself is never renamed
    d = Daemon(tmp_path, CONSOLE, supervisord="logfile_maxbytes=1KB")
    conf = d.conf.read_text().replace(f"logfile={d.logfile}", "logfile=/dev/stdout", 1)
    assert "logfile_maxbytes=1KB" in conf and "loglevel=info" in conf
    d.conf.write_text(conf)
    target = tmp_path / "stdout.txt"
    if kind == "pipe":
        proc = _run_to_stdout(d, subprocess.PIPE)
    else:
        with open(target, "wb") as handle:
            proc = _run_to_stdout(d, handle.fileno())
    try:
        pid = d.wait_state("console", "RUNNING")["pid"]
        # both lines are written once the shell has become `sleep`: stop it no sooner
        wait_until(lambda: psutil.Process(pid).name() == "sleep", what="the echoes done")
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=15)[0]
    assert proc.returncode == 0
    if kind == "file":
        out = target.read_bytes()
    lines = out.decode().splitlines()
    assert "out-line" in lines and "err-line" in lines
    started = [ln for ln in lines if "corrald started with pid" in ln]
    assert len(started) == 1  # not once from the file and again from the echo
    assert "Illegal seek" not in out.decode()
    assert os.path.islink("/dev/stdout")
    assert not os.path.lexists("/dev/stdout.1")


def test_sigusr2_reopens_the_main_log(daemon, tmp_path):
    d = daemon("[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    d.wait_state("a", "RUNNING")
    old = tmp_path / "corrald.log.old"
    os.rename(d.logfile, old)
    d.signal(signal.SIGUSR2)
    # the old file gets the request, then the daemon writes to a new file at the path
    wait_until(lambda: "corrald logreopen" in old.read_text(), what="logreopen in old file")
    d.rpc.supervisor.stopProcess("a")
    wait_until(lambda: "stopped: a" in d.log(), what="new main log written")
    assert "stopped: a" not in old.read_text()


def test_a_child_log_keeps_every_run(daemon, tmp_path):
    log = tmp_path / "runs.log"
    d = daemon(
        f"""
[program:runs]
command=/bin/sh -c "echo run-$$; exec sleep 100"
startsecs=0
stdout_logfile={log}
"""
    )
    first = d.wait_state("runs", "RUNNING")["pid"]
    wait_until(lambda: log.exists() and f"run-{first}" in log.read_text())
    os.kill(first, signal.SIGKILL)
    second = wait_until(lambda: (p := d.info("runs")["pid"]) not in (0, first) and p)
    wait_until(lambda: f"run-{second}" in log.read_text(), what="second run appended")
    assert log.read_text() == f"run-{first}\nrun-{second}\n"
