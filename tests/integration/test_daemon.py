"""corrald as a daemon: backgrounding, pidfile, idle cost, dropping privileges."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.support import Daemon, rpc_proxy, run_corrald, wait_quiet, wait_until


def test_daemonizes_writes_pidfile_and_exits_cleanly(tmp_path: Path) -> None:
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    conf = d.conf.read_text().replace("nodaemon=true", "")
    d.conf.write_text(conf)
    result = run_corrald("-c", str(d.conf))
    # the parent returns only once the daemon is up
    assert result.returncode == 0, result.stderr
    pid = int((tmp_path / "corrald.pid").read_text())
    assert psutil.Process(pid).ppid() != os.getpid()
    assert rpc_proxy(d.sock).supervisor.getPID() == pid
    assert os.getsid(pid) == pid  # its own session
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not psutil.pid_exists(pid), timeout=15, what="daemon gone")
    assert not (tmp_path / "corrald.pid").exists()
    assert not Path(d.sock).exists()


def test_a_port_already_served_is_reported_by_the_parent(tmp_path: Path, daemon) -> None:
    first = daemon("[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    conf = first.conf.read_text().replace(f"logfile={first.logfile}", f"logfile={second_dir}/d.log")
    conf = conf.replace(f"pidfile={tmp_path / 'corrald.pid'}", f"pidfile={second_dir}/p.pid")
    (second_dir / "c.conf").write_text(conf)
    result = run_corrald("-c", str(second_dir / "c.conf"))
    assert result.returncode == 2
    assert "Another program is already listening" in result.stderr
    # the first daemon is untouched
    assert first.info("a")["statename"] == "RUNNING"


def test_idle_daemon_never_wakes_up(daemon) -> None:
    progs = "".join(f"[program:p{i}]\ncommand=/bin/sleep 1000\nstartsecs=1\n\n" for i in range(20))
    d = daemon(progs)
    for i in range(20):
        d.wait_state(f"p{i}", "RUNNING")
    assert d.proc is not None
    p = psutil.Process(d.proc.pid)
    before = wait_quiet(p.pid)
    time.sleep(2.5)
    after = p.num_ctx_switches()
    # no timer, no poll: a sleeping daemon is not scheduled at all
    assert after.voluntary - before == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_drops_to_the_configured_user() -> None:
    import shutil
    import tempfile

    # pytest's own temp dirs are private to root; the dropped user needs to reach this one
    tmp = Path(tempfile.mkdtemp(prefix="corral-user-"))
    tmp.chmod(0o777)
    d = Daemon(
        tmp, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n", supervisord="user=nobody"
    ).start()
    try:
        _check_dropped(d)
        # everything the daemon needs on the way out was loaded while it could still read it
        code = d.stop()
        assert "Traceback" not in d.stderr(), d.stderr()
        assert code == 0
    finally:
        d.stop()
        shutil.rmtree(tmp)


def _check_dropped(d: Daemon) -> None:
    pid = d.wait_state("a", "RUNNING")["pid"]
    assert d.proc is not None
    assert psutil.Process(d.proc.pid).username() == "nobody"
    assert psutil.Process(pid).username() == "nobody"


def test_command_line_flags_override_the_config(tmp_path: Path) -> None:
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    other_log = tmp_path / "other.log"
    other_pid = tmp_path / "other.pid"
    d.start("-i", "edge-1", "-l", str(other_log), "-j", str(other_pid), "-e", "warn")
    try:
        assert d.rpc.supervisor.getIdentification() == "edge-1"
        wait_until(lambda: other_pid.exists(), what="pidfile from -j")
        assert int(other_pid.read_text()) == d.rpc.supervisor.getPID()
        d.wait_state("a", "RUNNING")
        text = other_log.read_text()
        # -e warn: the INFO 'spawned:' lines are filtered out, the CRIT/WARN ones are kept
        assert "spawned:" not in text
        assert not d.logfile.exists()
    finally:
        assert d.stop() == 0


def test_version_and_help() -> None:
    from corral import __version__

    version = run_corrald("-v")
    assert (version.returncode, version.stdout.strip()) == (0, __version__)
    usage = run_corrald("-h")
    assert usage.returncode == 0
    for flag in ("-c/--configuration", "-n/--nodaemon", "-u/--user", "-q/--childlogdir"):
        assert flag in usage.stdout
