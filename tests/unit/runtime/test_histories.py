"""Histories: real processes driven through sequences of events, checked by the states they
pass through and the PROCESS_STATE_* payloads a listener would read (4.3's numbering)."""

from __future__ import annotations

import signal
from pathlib import Path

from corral.runtime.process import Want
from corral.runtime.transitions import Ev, Timer
from corral.wire.states import ProcessState as S

from .harness import Harness


def test_crash_loop_counts_tries_as_4_3_and_ends_fatal(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        """
        [program:crash]
        command=/bin/sh -c "exit 3"
        autostart=false
        startsecs=1
        startretries=2
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("crash")
        p.handle(Ev.START)
        await h.until(lambda: p.state == S.FATAL, "FATAL")

    h.run(scenario)
    p = h.proc("crash")
    assert h.history("crash") == [
        "STARTING from_state:STOPPED tries:0",
        "BACKOFF from_state:STARTING tries:1",
        "STARTING from_state:BACKOFF tries:1",
        "BACKOFF from_state:STARTING tries:2",
        "STARTING from_state:BACKOFF tries:2",
        "BACKOFF from_state:STARTING tries:3",
        "FATAL from_state:BACKOFF",
    ]
    assert p.spawnerr == "Exited too quickly (process log may have details)"
    assert p.exitstatus == 0 and p.pid == 0 and p.want is Want.UP
    log = h.mainlog()
    assert log.count("exited: crash (exit status 3; not expected)") == 3
    assert "gave up: crash entered FATAL state, too many start retries too quickly" in log


def test_start_during_backoff_retries_now_with_a_fresh_budget(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        """
        [program:crash]
        command=/bin/sh -c "exit 1"
        autostart=false
        startsecs=1
        startretries=5
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("crash")
        p.handle(Ev.START)
        await h.until(lambda: p.state == S.BACKOFF, "BACKOFF")
        assert p.timer_armed(Timer.BACKOFF)
        p.handle(Ev.START)  # the operator does not wait out the backoff
        assert p.state == S.STARTING and not p.timer_armed(Timer.BACKOFF)
        await h.until(lambda: p.state == S.BACKOFF, "BACKOFF again")
        p.handle(Ev.STOP)
        assert p.state == S.STOPPED and p.tries == 0 and p.want is Want.DOWN
        assert not p.timer_armed(Timer.BACKOFF)

    h.run(scenario)
    assert h.history("crash") == [
        "STARTING from_state:STOPPED tries:0",
        "BACKOFF from_state:STARTING tries:1",
        "STARTING from_state:BACKOFF tries:0",
        "BACKOFF from_state:STARTING tries:1",
        "STOPPED from_state:BACKOFF pid:0",
    ]


def test_run_exit_unexpected_autorestarts_expected_stays_exited(tmp_path: Path) -> None:
    flag = tmp_path / "second"
    h = Harness(
        tmp_path,
        f"""
        [program:job]
        command=/bin/sh -c "if [ -e {flag} ]; then exit 0; fi; touch {flag}; exit 2"
        autostart=false
        autorestart=unexpected
        startsecs=0
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("job")
        p.handle(Ev.START)
        await h.until(lambda: h.states("job").count(S.EXITED) == 2, "two exits")

    h.run(scenario)
    hist = h.history("job")
    pids = [e.pid for e in h.events if e.new == S.RUNNING]
    assert len(pids) == 2 and all(pids)
    assert hist == [
        "STARTING from_state:STOPPED tries:0",
        f"RUNNING from_state:STARTING pid:{pids[0]}",
        f"EXITED from_state:RUNNING expected:0 pid:{pids[0]}",
        "STARTING from_state:EXITED tries:0",
        f"RUNNING from_state:STARTING pid:{pids[1]}",
        f"EXITED from_state:RUNNING expected:1 pid:{pids[1]}",
    ]
    p = h.proc("job")
    assert p.state == S.EXITED and p.exitstatus == 0 and p.spawnerr == ""


def test_stop_escalates_to_sigkill_after_stopwaitsecs(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        """
        [program:stubborn]
        command=/bin/sh -c "trap '' TERM; echo up; while :; do sleep 0.1; done"
        autostart=false
        startsecs=0
        stopwaitsecs=1
        stopasgroup=true
        killasgroup=true
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("stubborn")
        p.handle(Ev.START)
        await h.until(lambda: p.state == S.RUNNING, "RUNNING")
        log = tmp_path.glob("stubborn-stdout*")
        path = next(log)
        await h.until(lambda: b"up" in path.read_bytes(), "the trap to be set")
        pid = p.pid
        p.handle(Ev.STOP)
        assert p.state == S.STOPPING and p.timer_armed(Timer.STOP)
        await h.until(lambda: p.state == S.STOPPED, "STOPPED")
        assert not p.timer_armed(Timer.STOP)
        stopped = [e for e in h.events if e.new == S.STOPPED]
        assert stopped[0].pid == pid  # the pid that ended, as 4.3 reports it

    h.run(scenario)
    log = h.mainlog()
    assert "killing 'stubborn'" in log and "with SIGKILL" in log
    assert "stopped: stubborn (terminated by SIGKILL)" in log


def test_stop_while_the_spawn_is_under_way_stops_the_child_it_produces(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        """
        [program:a]
        command=/bin/sleep 60
        startsecs=1
        [program:b]
        command=/bin/sleep 60
        startsecs=1
        """,
    )

    async def scenario(h: Harness) -> None:
        spawner = h.sup.spawner
        a, b = h.proc("a"), h.proc("b")
        with spawner.collect() as batch:
            a.handle(Ev.START)
            b.handle(Ev.START)
        assert a.state == S.STARTING and a.pid == 0  # queued, not spawned yet
        a.handle(Ev.STOP)
        assert a.state == S.STOPPING
        spawner.run_collected(batch)
        assert b.state == S.STARTING and b.pid != 0
        await h.until(lambda: a.state == S.STOPPED, "a stopped")

    h.run(scenario)
    assert h.states("a") == [S.STARTING, S.STOPPING, S.STOPPED]
    assert "spawned: 'a' with pid" in h.mainlog()
    assert "stopped: a (terminated by SIGTERM)" in h.mainlog()


def test_ready_event_reaches_running_before_startsecs(tmp_path: Path) -> None:
    h = Harness(
        tmp_path,
        """
        [program:svc]
        command=/bin/sleep 60
        autostart=false
        startsecs=60
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("svc")
        p.handle(Ev.START)
        await h.until(lambda: p.pid != 0, "spawned")
        assert p.state == S.STARTING and p.timer_armed(Timer.STARTSECS)
        p.handle(Ev.READY)
        assert p.state == S.RUNNING and not p.timer_armed(Timer.STARTSECS)
        p.handle(Ev.READY)  # a second signal means nothing
        assert h.states("svc") == [S.STARTING, S.RUNNING]
        p.signal(signal.SIGKILL)
        await h.until(lambda: p.state == S.STARTING and p.pid != 0, "autorestart")

    h.run(scenario)
    assert "success: svc entered RUNNING state, ready" in h.mainlog()
    assert h.states("svc")[:4] == [S.STARTING, S.RUNNING, S.EXITED, S.STARTING]


def test_spawn_failure_goes_backoff_then_fatal_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    h = Harness(
        tmp_path,
        f"""
        [program:bad]
        command=/bin/sleep 60
        directory={missing}
        autostart=false
        startretries=0
        """,
    )

    async def scenario(h: Harness) -> None:
        p = h.proc("bad")
        p.handle(Ev.START)
        await h.until(lambda: p.state == S.FATAL, "FATAL")

    h.run(scenario)
    assert h.history("bad") == [
        "STARTING from_state:STOPPED tries:0",
        "BACKOFF from_state:STARTING tries:1",
        "FATAL from_state:BACKOFF",
    ]
    assert f"couldn't chdir to {missing}: ENOENT" in h.proc("bad").spawnerr
