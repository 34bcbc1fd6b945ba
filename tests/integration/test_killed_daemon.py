"""corrald killed with SIGKILL leaves its programs running (nothing can stop that); the next
corrald with the same config finds them and ends them before it starts its own, and says so:
no program runs twice."""

from __future__ import annotations

import signal
from pathlib import Path

import psutil

from tests.support import Daemon, wait_until


def test_the_next_corrald_ends_what_a_killed_one_left(tmp_path: Path) -> None:
    programs = "[program:app]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
    first = Daemon(tmp_path, programs).start()
    old = first.info("app")["pid"]
    assert first.proc is not None
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    assert psutil.pid_exists(old)  # left running, its daemon gone
    assert (tmp_path / "corrald.pid").exists()  # a killed daemon could not remove it
    first.proc = None  # its cleanup would kill the session we want to inspect
    second = Daemon(tmp_path, programs).start()
    try:
        wait_until(lambda: not psutil.pid_exists(old) or _zombie(old), what="the old app ended")
        new = second.info("app")
        assert new["statename"] == "RUNNING" and new["pid"] != old
        assert f"ending app (pid {old}), left running by a corrald that was killed" in second.log()
        sleeps = [
            p
            for p in psutil.process_iter(["cmdline"])
            if p.info["cmdline"] == ["/bin/sleep", "1000"]
        ]
        assert [p.pid for p in sleeps] == [new["pid"]]
    finally:
        second.cleanup()


def test_a_clean_stop_leaves_nothing_to_end(tmp_path: Path) -> None:
    programs = "[program:app]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
    first = Daemon(tmp_path, programs).start()
    assert first.stop() == 0
    assert not (tmp_path / "corrald.pid").exists()
    second = Daemon(tmp_path, programs).start()
    try:
        assert "left running by a corrald" not in second.log()
    finally:
        second.cleanup()


def _started_for(url: str) -> list[int]:
    pids = []
    for p in psutil.process_iter():
        try:
            env = p.environ()
        except (psutil.Error, OSError):
            continue
        if env.get("SUPERVISOR_SERVER_URL") == url and p.status() != psutil.STATUS_ZOMBIE:
            pids.append(p.pid)
    return pids


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
