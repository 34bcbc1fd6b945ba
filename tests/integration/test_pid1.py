"""corrald as PID 1 of a fresh PID namespace, the way a container runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import env_for_children, wait_until

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_unshare(), reason="needs unshare and permission for PID namespaces")
def test_as_pid_1_it_reaps_orphans_and_exits_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "corrald.log"
    out = tmp_path / "parent.log"
    conf = tmp_path / "c.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [supervisord]
        logfile={log}
        pidfile={tmp_path}/corrald.pid
        childlogdir={tmp_path}
        nodaemon=true

        [program:parent]
        command={sys.executable} {FIX}/forker.py orphan
        startsecs=0
        autorestart=false
        stdout_logfile={out}

        [program:app]
        command=/bin/sleep 1000
        startsecs=0
        """)
    )
    proc = subprocess.Popen(
        [
            "unshare",
            "-fp",
            "--mount-proc",
            sys.executable,
            "-m",
            "corral.daemon.main",
            "-c",
            str(conf),
        ],
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(
        lambda: log.exists() and "started with pid 1" in log.read_text(),
        timeout=15,
        what="corrald running as pid 1",
    )
    text = wait_until(
        lambda: out.exists() and "grandchild=" in out.read_text() and out.read_text(),
        what="the orphan's pid",
    )
    orphan = int(text.split("grandchild=")[1].split()[0])  # as numbered inside the namespace
    # pid 1 of the namespace is unshare's child; the orphan (sleep 3600) is still alive
    pid1 = int(
        subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    subprocess.run(["kill", "-TERM", str(pid1)], check=True)
    assert proc.wait(30) == 0
    final = log.read_text()
    assert "received SIGTERM indicating exit request" in final
    assert "stopped: app" in final
    # nothing is left behind: the orphan was ended on the way out
    assert f"terminating leftover process {orphan}" in final
