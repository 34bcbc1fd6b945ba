"""A stop request is never lost: SIGTERM at the earliest moment corrald can catch it, and
SIGTERM while a reload is still stopping programs, both end the daemon cleanly."""

from __future__ import annotations

import os
import signal
import xmlrpc.client
from pathlib import Path

import psutil

from tests.support import Daemon, prog, wait_until

TERM_BIT = 1 << (signal.SIGTERM - 1)


def catches_sigterm(pid: int) -> bool:
    """Has the daemon installed its SIGTERM handler yet? (SigCgt in /proc/<pid>/status)"""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & TERM_BIT)
    except FileNotFoundError:
        return False
    return False


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def refuses_as_stopping(d: Daemon) -> bool:
    try:
        d.rpc.supervisor.getState()
    except xmlrpc.client.Fault as e:
        return e.faultCode == 6  # SHUTDOWN_STATE: the daemon is restarting
    return False


def test_sigterm_during_start_up_exits_cleanly(tmp_path: Path) -> None:
    # enough programs, one priority level each, that start-up takes many loop turns
    programs = "".join(
        prog(f"p{i:03}", "/bin/sleep 600", startsecs=1, priority=i) for i in range(150)
    )
    d = Daemon(tmp_path, programs, supervisord="minfds=4096")
    d.start(wait=False)
    assert d.proc is not None
    pid = d.proc.pid
    wait_until(lambda: catches_sigterm(pid), timeout=30, interval=0.001, what="SIGTERM handler")
    os.kill(pid, signal.SIGTERM)
    try:
        code = d.proc.wait(60)
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    log = d.log()
    assert code == 0, log
    assert "received SIGTERM indicating exit request" in log
    assert not any(p.is_running() for p in descendants(pid))
    # whatever was spawned before the request was stopped, not abandoned
    assert log.count("spawned: ") == log.count("stopped: ")


def test_sigterm_during_a_reload_wins_over_the_restart(tmp_path: Path) -> None:
    marker = tmp_path / "trapped"
    slow = (
        f"/bin/sh -c \"trap 'sleep 2; exit 0' TERM; touch {marker}; while :; do sleep 0.1; done\""
    )
    d = Daemon(tmp_path, prog("slow", slow, startsecs=0, stopwaitsecs=30)).start()
    try:
        d.wait_state("slow", "RUNNING")
        wait_until(marker.exists, what="the TERM trap to be set")
        d.signal(signal.SIGHUP)
        d.wait_log("received SIGHUP indicating restart request")
        # the reload is now stopping 'slow', which takes 2 s to go
        wait_until(lambda: refuses_as_stopping(d), what="the reload to be stopping")
        d.signal(signal.SIGTERM)
        assert d.proc is not None
        code = d.proc.wait(60)
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.proc.kill()
    log = d.log()
    assert code == 0, log
    assert "received SIGTERM indicating exit request" in log
    assert "stopped: slow (exit status 0)" in log
    assert log.count("spawned: 'slow'") == 1  # not started again by the reload
