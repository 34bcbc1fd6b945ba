"""The state machine table as a whole: its guards, and properties every row must keep.

Rows are exercised one event at a time by test_histories.py, against real children; here
the table is checked for what no single history shows: coverage and consistency.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from corral.config.model import AutoRestart
from corral.runtime.transitions import (
    TABLE,
    Act,
    Ev,
    StopReason,
    Timer,
    choose,
    retries_exhausted,
    running_at_once,
    should_autorestart,
)
from corral.wire.states import ProcessState as S

BOOKKEEPING = {
    Act.RESET_TRIES,
    Act.COUNT_TRY,
    Act.NOTE_TOO_QUICK,
    Act.NOTE_BAD_EXIT,
    Act.NOTE_NOT_READY,
    Act.NOTE_DEP_FAILED,
    Act.NOTE_UNHEALTHY,
    Act.NOTE_WATCHDOG,
    Act.STOP_WAITING,
    Act.COUNT_RESTART,
}
WITH_A_CHILD = (S.STARTING, S.RUNNING, S.STOPPING, S.UNKNOWN)


@dataclass
class Facts:
    tries: int = 0
    startretries: int = 3
    startsecs: int = 1
    autorestart: AutoRestart = AutoRestart.UNEXPECTED
    exit_expected: bool = True
    shutting_down: bool = False
    wants_ready_check: bool = False
    wants_up: bool = True
    deps_unmet: bool = False
    waiting_for_deps: bool = False
    stop_reason: StopReason = StopReason.NONE
    health_action: str = "restart"
    restart_delay: float = 0.0
    restart_pending: bool = False
    stayed_up: bool = False


@pytest.mark.parametrize(
    ("facts", "exhausted"),
    [
        (Facts(tries=1, startretries=3), False),
        (Facts(tries=3, startretries=3), False),
        (Facts(tries=4, startretries=3), True),
        (Facts(tries=1, startretries=0), True),
        (Facts(tries=1, startretries=3, shutting_down=True), True),
    ],
)
def test_retries_exhausted(facts: Facts, exhausted: bool) -> None:
    assert retries_exhausted(facts) is exhausted
    row = choose(S.BACKOFF, Ev.FAILED, facts)
    assert row is not None
    assert row.to == (S.FATAL if exhausted else S.BACKOFF)
    assert (Act.LOG_FATAL if exhausted else Act.ARM_BACKOFF) in row.actions


@pytest.mark.parametrize(
    ("policy", "expected", "stopping", "restarts"),
    [
        (AutoRestart.ALWAYS, True, False, True),
        (AutoRestart.ALWAYS, False, False, True),
        (AutoRestart.UNEXPECTED, True, False, False),
        (AutoRestart.UNEXPECTED, False, False, True),
        (AutoRestart.NEVER, False, False, False),
        (AutoRestart.ALWAYS, False, True, False),
    ],
)
def test_autorestart_policy(
    policy: AutoRestart, expected: bool, stopping: bool, restarts: bool
) -> None:
    facts = Facts(autorestart=policy, exit_expected=expected, shutting_down=stopping)
    assert should_autorestart(facts) is restarts
    row = choose(S.EXITED, Ev.ENDED, facts)
    assert (row is not None and row.to == S.STARTING and Act.SPAWN in row.actions) is restarts


def test_spawned_goes_running_at_once_only_with_startsecs_0_and_no_ready_check() -> None:
    assert running_at_once(Facts(startsecs=0))
    assert not running_at_once(Facts(startsecs=0, wants_ready_check=True))
    at_once = choose(S.STARTING, Ev.SPAWNED, Facts(startsecs=0))
    timed = choose(S.STARTING, Ev.SPAWNED, Facts(startsecs=5))
    ready = choose(S.STARTING, Ev.SPAWNED, Facts(startsecs=5, wants_ready_check=True))
    assert at_once is not None and at_once.then is Ev.STARTSECS
    assert timed is not None and Act.ARM_STARTSECS in timed.actions and timed.then is None
    # a readiness check decides RUNNING: no startsecs timer, no follow-up
    assert ready is not None and ready.then is None
    assert ready.actions == (Act.LOG_SPAWNED, Act.WATCH_READY)


def test_ready_reaches_running_from_starting_only() -> None:
    row = choose(S.STARTING, Ev.READY, Facts())
    assert row is not None and row.to == S.RUNNING and Act.RESET_TRIES in row.prepare
    for state in set(S) - {S.STARTING}:
        assert choose(state, Ev.READY, Facts()) is None


def test_prepare_is_bookkeeping_and_actions_are_io() -> None:
    for pair, rows in TABLE.items():
        for row in rows:
            assert set(row.prepare) <= BOOKKEEPING, pair
            assert not set(row.actions) & BOOKKEEPING, pair


def test_only_the_last_row_of_a_pair_may_lack_a_guard() -> None:
    for pair, rows in TABLE.items():
        assert all(row.guard is not None for row in rows[:-1]), pair


def test_every_state_with_a_child_handles_its_exit_and_forgets_it() -> None:
    for state in WITH_A_CHILD:
        row = choose(state, Ev.EXIT, Facts())
        assert row is not None, state
        assert row.actions[0] is Act.FORGET_CHILD, state
    for state in set(S) - set(WITH_A_CHILD):
        assert (state, Ev.EXIT) not in TABLE


def test_stop_is_accepted_wherever_the_process_is_up_or_trying() -> None:
    for state in (S.STARTING, S.RUNNING, S.BACKOFF):
        row = choose(state, Ev.STOP, Facts())
        assert row is not None and row.to in (S.STOPPING, S.STOPPED), state


def test_a_spawn_outcome_is_handled_in_every_state_a_spawn_can_end_in() -> None:
    # a stop can come while the spawn runs on a worker thread
    for state in (S.STARTING, S.STOPPING):
        for ev in (Ev.SPAWNED, Ev.SPAWN_FAILED):
            assert choose(state, ev, Facts()) is not None, (state, ev)
    stopping = choose(S.STOPPING, Ev.SPAWNED, Facts())
    assert stopping is not None and Act.SEND_STOP in stopping.actions


def test_each_timer_event_has_a_row_in_the_state_owning_the_slot() -> None:
    for slot in Timer:
        event = slot.value[1]
        if event is not None:
            assert (slot.state, event) in TABLE, slot


def test_follow_ups_are_handled_in_the_state_they_are_raised_in() -> None:
    for (_, _), rows in TABLE.items():
        for row in rows:
            if row.then is not None:
                assert (row.to, row.then) in TABLE, row


def test_every_state_is_reachable_from_stopped() -> None:
    seen = {S.STOPPED}
    todo = [S.STOPPED]
    while todo:
        state = todo.pop()
        for (src, _), rows in TABLE.items():
            if src == state:
                for row in rows:
                    if row.to not in seen:
                        seen.add(row.to)
                        todo.append(row.to)
    assert seen == set(S)


# --- issue 9: readiness, dependencies, health, restart policy ------------------------------


def test_a_start_with_unmet_dependencies_waits_without_a_child() -> None:
    for state in (S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF, S.UNKNOWN):
        row = choose(state, Ev.START, Facts(deps_unmet=True))
        assert row is not None and row.to == S.STARTING and row.actions == (Act.WAIT_DEPS,)
        assert Act.RESET_TRIES in row.prepare
        fresh = choose(state, Ev.START, Facts())
        assert fresh is not None and fresh.actions == (Act.SPAWN,)
    waiting = Facts(waiting_for_deps=True)
    met = choose(S.STARTING, Ev.DEPS_MET, waiting)
    assert met is not None and met.actions == (Act.SPAWN,)
    failed = choose(S.STARTING, Ev.DEPS_FAILED, waiting)
    assert failed is not None and failed.to == S.FATAL and Act.NOTE_DEP_FAILED in failed.prepare
    stopped = choose(S.STARTING, Ev.STOP, waiting)
    assert stopped is not None and stopped.to == S.STOPPED and not stopped.actions
    # with a child (no longer waiting) the news means nothing, and a stop signals it
    assert choose(S.STARTING, Ev.DEPS_MET, Facts()) is None
    assert choose(S.STARTING, Ev.DEPS_FAILED, Facts()) is None
    signalled = choose(S.STARTING, Ev.STOP, Facts())
    assert signalled is not None and Act.SEND_STOP in signalled.actions


def test_not_ready_in_time_is_a_failed_start_unless_the_operator_stopped_it() -> None:
    row = choose(S.STARTING, Ev.NOT_READY, Facts())
    assert row is not None and row.to == S.STOPPING and Act.SEND_STOP in row.actions
    failed = Facts(stop_reason=StopReason.NOT_READY)
    back = choose(S.STOPPING, Ev.EXIT, failed)
    assert back is not None and back.to == S.BACKOFF and back.then is Ev.FAILED
    assert Act.COUNT_TRY in back.prepare
    operator = Facts(stop_reason=StopReason.NOT_READY, wants_up=False)
    down = choose(S.STOPPING, Ev.EXIT, operator)
    assert down is not None and down.to == S.STOPPED and down.then is None


@pytest.mark.parametrize(
    ("action", "to"), [("restart", S.STOPPING), ("stop", S.STOPPING), ("none", S.RUNNING)]
)
def test_unhealthy_follows_health_action(action: str, to: S) -> None:
    row = choose(S.RUNNING, Ev.UNHEALTHY, Facts(health_action=action))
    assert row is not None and row.to == to and Act.LOG_UNHEALTHY in row.actions
    assert (Act.SEND_STOP in row.actions) is (action != "none")


def test_an_unhealthy_restart_starts_again_once_stopped_but_not_while_shutting_down() -> None:
    unhealthy = Facts(stop_reason=StopReason.UNHEALTHY)
    row = choose(S.STOPPING, Ev.EXIT, unhealthy)
    assert row is not None and row.to == S.STOPPED and row.then is Ev.START
    assert Act.COUNT_RESTART in row.prepare
    ending = Facts(stop_reason=StopReason.UNHEALTHY, shutting_down=True)
    final = choose(S.STOPPING, Ev.EXIT, ending)
    assert final is not None and final.then is None


def test_restart_delay_defers_the_autorestart_and_a_stop_cancels_it() -> None:
    crashed = Facts(exit_expected=False, restart_delay=2.0)
    row = choose(S.EXITED, Ev.ENDED, crashed)
    assert row is not None and row.to == S.EXITED and row.actions == (Act.ARM_RESTART,)
    later = choose(S.EXITED, Ev.RESTART, crashed)
    assert later is not None and later.to == S.STARTING and Act.SPAWN in later.actions
    assert choose(S.EXITED, Ev.STOP, Facts(restart_pending=True)) is not None
    assert choose(S.EXITED, Ev.STOP, Facts()) is None  # 4.3: stop of an EXITED is refused


def test_an_exit_in_starting_after_startsecs_is_a_run_that_ended() -> None:
    """The child ran for startsecs but its exit is seen before the startsecs timer (both due
    in one loop turn): RUNNING, then the exit handled there, as 4.3 decides by elapsed time."""
    ran = choose(S.STARTING, Ev.EXIT, Facts(stayed_up=True))
    assert ran is not None and ran.to == S.RUNNING and ran.then is Ev.EXIT
    assert Act.RESET_TRIES in ran.prepare and not ran.actions
    ended = choose(S.RUNNING, Ev.EXIT, Facts(stayed_up=True))
    assert ended is not None and ended.to == S.EXITED
    quick = choose(S.STARTING, Ev.EXIT, Facts())
    assert quick is not None and quick.to == S.BACKOFF and Act.COUNT_TRY in quick.prepare
