"""A real corrald, real children, real signals: one behaviour per test."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.support import prog, wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"


def test_autostart_reaches_running_after_startsecs(daemon, tmp_path):
    d = daemon(prog("app", f"{PY} {FIX}/sleeper.py", startsecs=1))
    info = d.info("app")
    assert info["statename"] in ("STARTING", "RUNNING")
    info = d.wait_state("app", "RUNNING", timeout=5)
    assert info["pid"] > 0
    assert psutil.pid_exists(info["pid"])
    assert "success: app entered RUNNING state" in d.log()


def test_autostart_false_stays_stopped(daemon):
    d = daemon(prog("idle", f"{PY} {FIX}/sleeper.py", autostart="false"))
    time.sleep(0.3)
    info = d.info("idle")
    assert info["statename"] == "STOPPED"
    assert info["description"] == "Not started"


def test_kill_9_brings_it_back(daemon):
    d = daemon(prog("app", f"{PY} {FIX}/sleeper.py", startsecs=0, autorestart="true"))
    first = d.wait_state("app", "RUNNING")["pid"]
    os.kill(first, signal.SIGKILL)
    second = wait_until(
        lambda: (p := d.info("app")["pid"]) not in (0, first) and p, what="a new pid"
    )
    assert second != first
    log = d.log()
    assert "exited: app (terminated by SIGKILL; not expected)" in log


def test_exit_is_seen_at_once_not_on_a_tick(daemon):
    # startsecs=0 and autorestart=unexpected: an exit 3 restarts; the gap between starts is
    # what users wait for after a crash. 4.3 waits up to a second here.
    d = daemon(prog("crash", f"{PY} {FIX}/exiter.py 3 0.2", startsecs=0, startretries=100))
    wait_until(lambda: d.log().count("spawned: 'crash'") >= 4, timeout=10, what="4 spawns")
    assert "exited: crash (exit status 3; not expected)" in d.log()


def test_expected_exit_with_unexpected_policy_stays_exited(daemon):
    d = daemon(prog("once", f"{PY} {FIX}/exiter.py 0 0.1", startsecs=0))
    info = d.wait_state("once", "EXITED")
    assert info["exitstatus"] == 0
    time.sleep(0.5)
    assert d.info("once")["statename"] == "EXITED"
    assert "exited: once (exit status 0; expected)" in d.log()


def test_custom_exitcodes_make_an_exit_expected(daemon):
    d = daemon(prog("two", f"{PY} {FIX}/exiter.py 2 0.1", startsecs=0, exitcodes="0,2"))
    d.wait_state("two", "EXITED")
    assert "exited: two (exit status 2; expected)" in d.log()


def test_autorestart_false_never_restarts(daemon):
    d = daemon(prog("no", f"{PY} {FIX}/exiter.py 5 0.1", startsecs=0, autorestart="false"))
    d.wait_state("no", "EXITED")
    time.sleep(0.5)
    assert d.log().count("spawned: 'no'") == 1


def test_exiting_too_quickly_backs_off_then_fatal(daemon):
    # startsecs well above a loaded machine's Python start-up: every run exits too quickly
    d = daemon(prog("quick", f"{PY} {FIX}/exiter.py 1", startsecs=10, startretries=2))
    info = d.wait_state("quick", "FATAL", timeout=15)
    assert info["description"] == "Exited too quickly (process log may have details)"
    log = d.log()
    assert log.count("spawned: 'quick'") == 3  # 1 + startretries
    assert "gave up: quick entered FATAL state, too many start retries too quickly" in log


def test_missing_command_is_fatal_with_a_clear_spawn_error(daemon):
    d = daemon(prog("ghost", "/nonexistent/bin/ghost", startretries=1))
    info = d.wait_state("ghost", "FATAL", timeout=10)
    assert info["spawnerr"] == "can't find command '/nonexistent/bin/ghost'"
    assert "spawnerr: can't find command '/nonexistent/bin/ghost'" in d.log()


def test_not_executable_is_fatal(daemon, tmp_path):
    script = tmp_path / "noexec.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    d = daemon(prog("noexec", str(script), startretries=0))
    info = d.wait_state("noexec", "FATAL", timeout=10)
    assert info["spawnerr"] == f"command at '{script}' is not executable"


def test_stop_sends_stopsignal_and_logs(daemon):
    d = daemon(prog("app", f"{PY} {FIX}/sleeper.py", startsecs=0, stopsignal="USR1"))
    pid = d.wait_state("app", "RUNNING")["pid"]
    assert d.rpc.supervisor.stopProcess("app") is True
    assert d.info("app")["statename"] == "STOPPED"
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "stopped: app (terminated by SIGUSR1)" in d.log()


def test_stopwaitsecs_then_sigkill(daemon, tmp_path):
    out = tmp_path / "stubborn.log"
    d = daemon(
        prog("stubborn", f"{PY} {FIX}/stubborn.py", startsecs=0, stopwaitsecs=1, stdout_logfile=out)
    )
    d.wait_state("stubborn", "RUNNING")
    wait_until(lambda: out.exists() and "ready" in out.read_text(), what="handler installed")
    t0 = time.monotonic()
    d.rpc.supervisor.stopProcess("stubborn")
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.9
    log = d.log()
    assert "with SIGKILL" in log
    assert "stopped: stubborn (terminated by SIGKILL)" in log
    assert "got TERM, ignoring" in out.read_text()


def test_stopasgroup_kills_grandchildren(daemon, tmp_path):
    out = tmp_path / "forker.log"
    d = daemon(
        prog("forker", f"{PY} {FIX}/forker.py", startsecs=0, stopasgroup="true", stdout_logfile=out)
    )
    d.wait_state("forker", "RUNNING")
    text = wait_until(
        lambda: out.exists() and "grandchild=" in out.read_text() and out.read_text(),
        what="grandchild pid",
    )
    grandchild = int(text.split("grandchild=")[1].split()[0])
    assert psutil.pid_exists(grandchild)
    d.rpc.supervisor.stopProcess("forker")
    wait_until(
        lambda: (
            not psutil.pid_exists(grandchild)
            or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
        ),
        what="grandchild gone",
    )


def test_priority_order_start_ascending_stop_descending(daemon):
    programs = "".join(
        prog(name, f"{PY} {FIX}/sleeper.py", startsecs=0, priority=prio)
        for name, prio in (("late", 300), ("early", 100), ("middle", 200))
    )
    d = daemon(programs)
    for n in ("early", "middle", "late"):
        d.wait_state(n, "RUNNING")
    log = d.log()
    spawned = [log.index(f"spawned: '{n}'") for n in ("early", "middle", "late")]
    assert spawned == sorted(spawned)
    assert d.stop() == 0
    log = d.log()
    stopped = [log.index(f"stopped: {n} ") for n in ("late", "middle", "early")]
    assert stopped == sorted(stopped)


def test_numprocs_naming_and_process_num(daemon):
    d = daemon(
        prog(
            "worker",
            f"{PY} {FIX}/sleeper.py",
            startsecs=0,
            numprocs=3,
            numprocs_start=1,
            process_name="%(program_name)s_%(process_num)02d",
        )
    )
    names = sorted(i["name"] for i in d.rpc.supervisor.getAllProcessInfo())
    assert names == ["worker_01", "worker_02", "worker_03"]
    for n in names:
        info = d.wait_state(f"worker:{n}", "RUNNING")
        assert info["group"] == "worker"


def test_environment_directory_umask(daemon, tmp_path):
    out = tmp_path / "env.log"
    d = daemon(
        prog(
            "envy",
            f"{PY} {FIX}/sleeper.py FOO SUPERVISOR_ENABLED SUPERVISOR_PROCESS_NAME "
            "SUPERVISOR_GROUP_NAME SUPERVISOR_SERVER_URL GLOBAL",
            startsecs=0,
            environment='FOO="a,b"',
            directory=tmp_path,
            umask="027",
            stdout_logfile=out,
        ),
        supervisord="environment=GLOBAL=yes",
    )
    d.wait_state("envy", "RUNNING")
    text = wait_until(
        lambda: out.exists() and "GLOBAL=" in out.read_text() and out.read_text(),
        what="env printed",
    )
    assert "FOO=a,b" in text
    assert "SUPERVISOR_ENABLED=1" in text
    assert "SUPERVISOR_PROCESS_NAME=envy" in text
    assert "SUPERVISOR_GROUP_NAME=envy" in text
    assert f"SUPERVISOR_SERVER_URL=unix://{d.sock}" in text
    assert "GLOBAL=yes" in text
    assert f"cwd={tmp_path}" in text
    assert "umask=0o27" in text


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_switch_sets_home_user_logname(daemon, tmp_path):
    import pwd

    out = tmp_path / "user.log"
    d = daemon(
        prog(
            "asnobody",
            '/bin/sh -c "echo HOME=$HOME USER=$USER LOGNAME=$LOGNAME && exec sleep 100"',
            startsecs=0,
            user="nobody",
            stdout_logfile=out,
            directory="/",
        )
    )
    pid = d.wait_state("asnobody", "RUNNING")["pid"]
    assert psutil.Process(pid).username() == "nobody"
    text = wait_until(
        lambda: out.exists() and "LOGNAME=" in out.read_text() and out.read_text(),
        what="env printed",
    )
    home = pwd.getpwnam("nobody").pw_dir
    assert f"HOME={home} USER=nobody LOGNAME=nobody" in text


def test_fcgi_program_gets_the_socket_as_fd0(daemon, tmp_path):
    import socket

    sock_path = tmp_path / "fcgi.sock"
    d = daemon(f"""
[fcgi-program:echo]
command={PY} {FIX}/fcgi_echo.py
socket=unix://{sock_path}
socket_mode=0770
numprocs=2
process_name=%(program_name)s_%(process_num)d
startsecs=0
""")
    d.wait_state("echo:echo_0", "RUNNING")
    d.wait_state("echo:echo_1", "RUNNING")
    assert oct(sock_path.stat().st_mode & 0o777) == "0o770"
    pids = {d.info("echo:echo_0")["pid"], d.info("echo:echo_1")["pid"]}
    c = socket.socket(socket.AF_UNIX)
    c.connect(str(sock_path))
    answer = c.recv(100).decode()
    c.close()
    assert answer.startswith("fcgi:")
    assert int(answer.split(":")[1]) in pids


def test_sigterm_stops_everything_and_exits_zero(daemon):
    d = daemon(
        prog("a", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + prog("b", f"{PY} {FIX}/sleeper.py", startsecs=0)
    )
    pids = [d.wait_state(n, "RUNNING")["pid"] for n in ("a", "b")]
    assert d.stop() == 0
    for pid in pids:
        assert not psutil.pid_exists(pid)
    assert "received SIGTERM indicating exit request" in d.log()
    assert not Path(d.sock).exists()


def test_unhandled_signals_are_ignored(daemon):
    d = daemon(prog("a", f"{PY} {FIX}/sleeper.py", startsecs=0))
    pid = d.wait_state("a", "RUNNING")["pid"]
    for sig in (signal.SIGUSR1, signal.SIGALRM, signal.SIGPROF):
        d.signal(sig)
    time.sleep(0.3)
    assert d.proc is not None and d.proc.poll() is None
    assert d.info("a")["pid"] == pid


def test_sighup_with_a_broken_config_keeps_running(daemon):
    d = daemon(prog("a", f"{PY} {FIX}/sleeper.py", startsecs=0))
    pid = d.wait_state("a", "RUNNING")["pid"]
    good = d.conf.read_text()
    d.conf.write_text(good + "\n[program:broken]\nautostart=maybe\ncommand=x\n")
    d.signal(signal.SIGHUP)
    d.wait_log("could not reload config")
    assert "not a valid boolean value: 'maybe'" in d.log()
    assert d.info("a")["pid"] == pid
    assert d.info("a")["statename"] == "RUNNING"


def test_sighup_with_a_good_config_restarts_in_place(daemon):
    d = daemon(prog("a", f"{PY} {FIX}/sleeper.py", startsecs=0))
    old = d.wait_state("a", "RUNNING")["pid"]
    d.conf.write_text(d.conf.read_text() + prog("b", f"{PY} {FIX}/sleeper.py", startsecs=0))
    daemon_pid = d.rpc.supervisor.getPID()
    d.signal(signal.SIGHUP)
    wait_until(lambda: _try_state(d, "b") == "RUNNING", timeout=15, what="b running")
    assert d.rpc.supervisor.getPID() == daemon_pid
    assert d.info("a")["pid"] != old


def _try_state(d, name):
    try:
        return d.info(name)["statename"]
    except Exception:
        return None


def test_orphans_are_reaped(daemon, tmp_path):
    out = tmp_path / "orphan.log"
    d = daemon(
        prog(
            "parent",
            f"{PY} {FIX}/forker.py orphan",
            startsecs=0,
            autorestart="false",
            stdout_logfile=out,
        )
    )
    d.wait_state("parent", "EXITED")
    text = wait_until(
        lambda: out.exists() and "grandchild=" in out.read_text() and out.read_text(),
        what="grandchild pid",
    )
    grandchild = int(text.split("grandchild=")[1].split()[0])
    # the orphan is re-parented to corrald (a child subreaper), which reaps it when it dies
    os.kill(grandchild, signal.SIGTERM)
    d.wait_log(f"reaped unknown pid {grandchild}")


def test_shutdown_leaves_no_orphan(daemon, tmp_path):
    out = tmp_path / "forker.log"
    # no stopasgroup: stopping the program leaves its grandchild running
    d = daemon(prog("forker", f"{PY} {FIX}/forker.py", startsecs=0, stdout_logfile=out))
    d.wait_state("forker", "RUNNING")
    text = wait_until(
        lambda: out.exists() and "grandchild=" in out.read_text() and out.read_text(),
        what="grandchild pid",
    )
    grandchild = int(text.split("grandchild=")[1].split()[0])
    assert d.stop() == 0
    assert not psutil.pid_exists(grandchild)
    assert f"terminating leftover process {grandchild}" in d.log()


def test_fcgi_program_on_a_tcp_socket(daemon):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon(f"""
[fcgi-program:tcpecho]
command={PY} {FIX}/fcgi_echo.py
socket=tcp://127.0.0.1:{port}
socket_backlog=16
startsecs=0
""")
    pid = d.wait_state("tcpecho", "RUNNING")["pid"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        assert c.recv(100).decode() == f"fcgi:{pid}\n"
