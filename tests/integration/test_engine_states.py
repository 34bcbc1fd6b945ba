"""The process engine through a real corrald: retries and backoff, stop paths, process
groups, shutdown signals, heterogeneous groups, spawn errors. One behaviour per test."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import psutil
import pytest

from tests.support import prog, wait_quiet, wait_signal_handled, wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"


def stamps(log: str, text: str) -> list[float]:
    """Times of the main-log lines containing `text`."""
    out = []
    for line in log.splitlines():
        if text in line:
            when = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            out.append(when.timestamp())
    return out


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_backoff_waits_one_more_second_after_each_failure(daemon):
    d = daemon(prog("quick", '/bin/sh -c "exit 1"', startsecs=10, startretries=2))
    info = d.wait_state("quick", "FATAL", timeout=15)
    assert info["description"] == "Exited too quickly (process log may have details)"
    log = d.log()
    # each failed start says how the process ended, as 4.3 does
    assert log.count("WARN exited: quick (exit status 1; not expected)") == 3
    spawns = stamps(log, "spawned: 'quick'")
    assert len(spawns) == 3  # 1 + startretries
    gaps = [b - a for a, b in itertools.pairwise(spawns)]
    assert 0.95 <= gaps[0] < 1.6
    assert 1.95 <= gaps[1] < 2.6
    assert "gave up: quick entered FATAL state, too many start retries too quickly" in log


def test_startretries_zero_is_fatal_after_the_first_failure(daemon):
    d = daemon(prog("once", '/bin/sh -c "exit 1"', startsecs=10, startretries=0))
    d.wait_state("once", "FATAL")
    assert d.log().count("spawned: 'once'") == 1


def test_an_exit_after_startsecs_is_exited_not_backoff(daemon):
    # a second past startsecs: the startsecs timer fires first even on a loaded machine
    d = daemon(prog("late", '/bin/sh -c "sleep 2; exit 0"', startsecs=1, autorestart="false"))
    info = d.wait_state("late", "EXITED", timeout=10)
    assert info["exitstatus"] == 0
    log = d.log()
    assert "success: late entered RUNNING state, process has stayed up for > than 1 seconds" in log
    assert "INFO exited: late (exit status 0; expected)" in log
    assert "Exited too quickly" not in info["description"]


def test_an_exit_after_startsecs_seen_late_is_still_a_run(daemon):
    # A loaded daemon can learn of the exit and of its overdue startsecs timer in one loop
    # turn: made certain here by stopping the daemon across both. As in 4.3 (which compares
    # the times), the process stayed up for startsecs, so this is RUNNING then EXITED.
    d = daemon(prog("late", '/bin/sh -c "sleep 1.5; exit 0"', startsecs=1, autorestart="false"))
    info = d.info("late")
    assert info["statename"] == "STARTING"
    assert d.proc is not None
    os.kill(d.proc.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: gone(info["pid"]), what="the child to exit while the daemon sleeps")
    finally:
        os.kill(d.proc.pid, signal.SIGCONT)
    info = d.wait_state("late", "EXITED")
    assert info["exitstatus"] == 0
    assert "success: late entered RUNNING state" in d.log()


def test_an_expected_code_before_startsecs_is_still_a_failed_start(daemon):
    d = daemon(prog("zero", '/bin/sh -c "exit 0"', startsecs=10, startretries=0))
    d.wait_state("zero", "FATAL")
    assert "WARN exited: zero (exit status 0; not expected)" in d.log()


def test_a_crash_after_startsecs_restarts_forever_with_autorestart_true(daemon):
    d = daemon(
        prog("loop", '/bin/sh -c "sleep 0.3; exit 0"', startsecs=0, autorestart="true")
        + prog("fail", '/bin/sh -c "sleep 0.3; exit 4"', startsecs=0, startretries=0)
    )
    wait_until(lambda: d.log().count("spawned: 'loop'") >= 3, what="three runs of loop")
    wait_until(lambda: d.log().count("spawned: 'fail'") >= 3, what="unexpected exits restart")
    assert "exited: fail (exit status 4; not expected)" in d.log()
    assert d.info("fail")["statename"] != "FATAL"


def test_stop_during_backoff_stops_it_and_a_start_gets_every_retry(daemon):
    d = daemon(prog("flaky", '/bin/sh -c "exit 3"', startsecs=5, startretries=50))
    d.wait_state("flaky", "BACKOFF")
    spawned = d.log().count("spawned: 'flaky'")
    assert d.rpc.supervisor.stopProcess("flaky") is True
    info = d.info("flaky")
    assert info["statename"] == "STOPPED"
    assert info["exitstatus"] == 0  # as 4.3: the failed starts' code 3 is no run's status
    time.sleep(1.5)  # longer than the first backoff delay: nothing may be retried
    assert d.log().count("spawned: 'flaky'") == spawned
    # start on a BACKOFF process tries again now (4.3: ERROR already started)
    d.rpc.supervisor.startProcess("flaky", False)
    d.wait_state("flaky", "BACKOFF")
    assert d.rpc.supervisor.startProcess("flaky", False) is True
    wait_until(lambda: d.log().count("spawned: 'flaky'") >= spawned + 2, what="restarted now")


@pytest.mark.parametrize("killasgroup", [True, False])
def test_killasgroup_sigkills_grandchildren_after_stopwaitsecs(daemon, tmp_path, killasgroup):
    out = tmp_path / "g.log"
    # both the shell and its sleep ignore TERM, so only the SIGKILL can end them
    command = "/bin/sh -c \"trap '' TERM; sleep 3600 & echo grandchild=$!; wait\""
    d = daemon(
        prog(
            "deaf",
            command,
            startsecs=0,
            stopwaitsecs=1,
            killasgroup=str(killasgroup).lower(),
            stdout_logfile=out,
        )
    )
    pid = d.wait_state("deaf", "RUNNING")["pid"]
    text = wait_until(lambda: out.exists() and "grandchild=" in out.read_text() and out.read_text())
    grandchild = int(text.split("grandchild=")[1].split()[0])
    t0 = time.monotonic()
    d.rpc.supervisor.stopProcess("deaf")
    assert time.monotonic() - t0 >= 0.9
    assert f"killing 'deaf' ({pid}) with SIGKILL" in d.log()
    assert "stopped: deaf (terminated by SIGKILL)" in d.log()
    if killasgroup:
        wait_until(lambda: gone(grandchild), what="grandchild killed with the group")
    else:
        # a group kill would have been sent before stopProcess answered; give it time to land
        time.sleep(0.5)
        assert not gone(grandchild)  # only the program itself was killed
        os.kill(grandchild, signal.SIGKILL)


def test_nothing_is_respawned_while_shutting_down(daemon, tmp_path):
    d = daemon(
        # stopped first (highest priority) and slow to go: TERM is ignored for 1 s
        prog("slow", f"{PY} {FIX}/stubborn.py", startsecs=0, stopwaitsecs=1, priority=900)
        # stopped last; meanwhile it keeps crashing, and would normally be restarted
        + prog("crashy", '/bin/sh -c "sleep 0.2; exit 1"', startsecs=0, priority=1)
    )
    wait_signal_handled(d.wait_state("slow", "RUNNING")["pid"])  # else TERM ends it at once
    wait_until(lambda: d.log().count("spawned: 'crashy'") >= 2, what="crashy restarting")
    assert d.stop() == 0
    log = d.log()
    after = log[log.index("received SIGTERM") :]
    assert "spawned:" not in after


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT, signal.SIGTERM])
def test_exit_signals_stop_in_reverse_priority_and_exit_zero(daemon, tmp_path, sig):
    d = daemon(
        prog("db", f"{PY} {FIX}/sleeper.py", startsecs=0, priority=10)
        + prog("web", f"{PY} {FIX}/sleeper.py", startsecs=0, priority=20)
    )
    pids = [d.wait_state(n, "RUNNING")["pid"] for n in ("db", "web")]
    assert d.proc is not None
    d.proc.send_signal(sig)
    assert d.proc.wait(15) == 0
    log = d.log()
    assert f"received {sig.name} indicating exit request" in log
    assert log.index("stopped: web ") < log.index("stopped: db ")
    assert all(gone(pid) for pid in pids)
    assert not (tmp_path / "corrald.pid").exists()
    assert not Path(d.sock).exists()


def test_group_priority_orders_start_and_shutdown(daemon):
    d = daemon(
        prog("a", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + prog("b", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + "[group:back]\nprograms=b\npriority=1\n\n[group:front]\nprograms=a\npriority=2\n"
    )
    d.wait_state("front:a", "RUNNING")
    d.wait_state("back:b", "RUNNING")
    log = d.log()
    assert log.index("spawned: 'b'") < log.index("spawned: 'a'")
    assert d.stop() == 0
    log = d.log()
    assert log.index("stopped: a ") < log.index("stopped: b ")


def test_heterogeneous_group_gathers_programs(daemon, tmp_path):
    d = daemon(
        prog(
            "api",
            f"{PY} {FIX}/sleeper.py SUPERVISOR_GROUP_NAME SUPERVISOR_PROCESS_NAME",
            startsecs=0,
            stdout_logfile=f"{tmp_path}/%(group_name)s-%(program_name)s.log",
        )
        + prog("jobs", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + prog("alone", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + "[group:web]\nprograms=api,jobs\n"
    )
    infos = {f"{i['group']}:{i['name']}" for i in d.rpc.supervisor.getAllProcessInfo()}
    assert infos == {"web:api", "web:jobs", "alone:alone"}
    d.wait_state("web:api", "RUNNING")
    out = tmp_path / "web-api.log"
    text = wait_until(
        lambda: out.exists() and "PROCESS_NAME=" in out.read_text() and out.read_text()
    )
    assert "SUPERVISOR_GROUP_NAME=web" in text
    assert "SUPERVISOR_PROCESS_NAME=api" in text
    d.rpc.supervisor.stopProcessGroup("web")
    assert {d.info(n)["statename"] for n in ("web:api", "web:jobs")} == {"STOPPED"}
    assert d.info("alone")["statename"] == "RUNNING"


def test_numprocs_process_num_in_command_environment_and_logs(daemon, tmp_path):
    d = daemon(
        prog(
            "w",
            f"{PY} {FIX}/sleeper.py SLOT --slot=%(process_num)d",
            startsecs=0,
            numprocs=2,
            numprocs_start=7,
            process_name="%(program_name)s-%(process_num)d",
            environment="SLOT=%(process_num)d",
            stdout_logfile=f"{tmp_path}/w-%(process_num)d.log",
        )
    )
    for n in (7, 8):
        pid = d.wait_state(f"w:w-{n}", "RUNNING")["pid"]
        assert f"--slot={n}" in psutil.Process(pid).cmdline()
        out = tmp_path / f"w-{n}.log"
        wait_until(lambda o=out, n=n: o.exists() and f"SLOT={n}" in o.read_text())


@pytest.mark.parametrize(
    ("command", "spawnerr"),
    [
        ("/", "command at '/' is a directory"),
        (
            '/bin/sh -c "unclosed',
            "can't parse command '/bin/sh -c \"unclosed': No closing quotation",
        ),
        ("no-such-program-xyz --flag", "can't find command 'no-such-program-xyz'"),
    ],
)
def test_spawn_errors_end_fatal_and_are_logged(daemon, command, spawnerr):
    d = daemon(prog("bad", command, startretries=0))
    info = d.wait_state("bad", "FATAL")
    assert info["spawnerr"] == spawnerr
    assert f"INFO spawnerr: {spawnerr}" in d.log()


def test_missing_directory_is_a_spawn_error(daemon, tmp_path):
    d = daemon(prog("lost", "/bin/sleep 100", directory=tmp_path / "nope", startretries=0))
    info = d.wait_state("lost", "FATAL")
    assert info["spawnerr"] == f"couldn't chdir to {tmp_path / 'nope'}: ENOENT"


def test_command_found_in_the_programs_own_path(daemon, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\nexec sleep 100\n")
    tool.chmod(0o755)
    d = daemon(prog("tool", "mytool", startsecs=0, environment=f"PATH={bindir}:/bin:/usr/bin"))
    pid = d.wait_state("tool", "RUNNING")["pid"]
    assert re.search(r"sleep", " ".join(psutil.Process(pid).cmdline()))


@pytest.mark.slow
def test_five_hundred_idle_programs_cost_no_cpu(daemon):
    progs = "".join(f"[program:p{i}]\ncommand=/bin/sleep 1000\n\n" for i in range(500))
    d = daemon(progs)
    wait_until(
        lambda: all(i["statename"] == "RUNNING" for i in d.rpc.supervisor.getAllProcessInfo()),
        timeout=60,
        what="500 programs RUNNING",
    )
    assert d.proc is not None
    me = psutil.Process(d.proc.pid)
    switches = wait_quiet(me.pid)
    cpu = sum(me.cpu_times()[:2])
    time.sleep(3)
    # nothing polls and no timer is armed: the daemon is not scheduled at all
    assert me.num_ctx_switches().voluntary == switches
    assert sum(me.cpu_times()[:2]) - cpu < 0.01


@pytest.mark.slow
def test_a_long_stop_says_what_it_waits_for(daemon):
    deaf = "/bin/sh -c \"trap '' TERM; sleep 3600 & wait\""
    d = daemon(
        prog("one", deaf, startsecs=0, stopwaitsecs=3, killasgroup="true")
        + prog("two", deaf, startsecs=0, stopwaitsecs=4, killasgroup="true")
    )
    for name in ("one", "two"):
        wait_signal_handled(d.wait_state(name, "RUNNING")["pid"])  # the trap is set
    d.rpc.supervisor.stopProcess("one")  # waits: a line every 2 s
    assert d.log().count("INFO waiting for one to stop") == 1
    assert d.stop() == 0  # shutdown: a line every 3 s
    assert d.log().count("INFO waiting for two to die") == 1
    assert "stopped: two (terminated by SIGKILL)" in d.log()


def test_exited_and_fatal_processes_start_again_on_request(daemon):
    d = daemon(
        prog("done", '/bin/sh -c "exit 0"', startsecs=0, autorestart="false")
        + prog("broken", '/bin/sh -c "exit 1"', startsecs=10, startretries=0)
    )
    d.wait_state("done", "EXITED")
    d.wait_state("broken", "FATAL")
    d.rpc.supervisor.startProcess("done", False)
    wait_until(lambda: d.log().count("spawned: 'done'") == 2, what="EXITED -> STARTING")
    d.rpc.supervisor.startProcess("broken", False)
    wait_until(lambda: d.log().count("spawned: 'broken'") == 2, what="FATAL -> STARTING")
    d.wait_state("broken", "FATAL")


def test_stop_while_starting_and_a_clean_exit_on_stop_is_info(daemon):
    # TERM handled by exiting 0: an expected code, so the stop is logged at INFO
    polite = "/bin/sh -c \"trap 'exit 0' TERM; while :; do sleep 0.05; done\""
    d = daemon(prog("polite", polite, startsecs=30))
    info = d.info("polite")
    assert info["statename"] == "STARTING"
    wait_signal_handled(info["pid"])  # a TERM before the trap is set would kill the shell
    d.rpc.supervisor.stopProcess("polite")
    assert d.info("polite")["statename"] == "STOPPED"
    assert "INFO stopped: polite (exit status 0)" in d.log()
    assert "success: polite" not in d.log()
