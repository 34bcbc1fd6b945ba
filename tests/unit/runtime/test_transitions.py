"""The state machine table, row by row: every row is listed here with its expected outcome,
so a changed row fails a test that names it."""

from __future__ import annotations

import pytest

from corral.runtime.transitions import TABLE, Act, Ev, lookup
from corral.wire.states import ProcessState as S

EXPECTED: list[tuple[S, Ev, S, tuple[Act, ...]]] = [
    (S.STOPPED, Ev.START, S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.EXITED, Ev.START, S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.FATAL, Ev.START, S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.UNKNOWN, Ev.START, S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.BACKOFF, Ev.START, S.STARTING, (Act.CANCEL_TIMER, Act.RESET_TRIES, Act.SPAWN)),
    (S.EXITED, Ev.AUTORESTART, S.STARTING, (Act.SPAWN,)),
    (S.STARTING, Ev.SPAWN_FAILED, S.BACKOFF, (Act.CANCEL_TIMER, Act.ARM_RETRY)),
    (S.STARTING, Ev.STARTED, S.RUNNING, (Act.CANCEL_TIMER, Act.RESET_TRIES, Act.LOG_RUNNING)),
    (S.STARTING, Ev.EXIT, S.BACKOFF, (Act.CANCEL_TIMER, Act.NOTE_TOO_QUICK, Act.ARM_RETRY)),
    (S.STARTING, Ev.STOP, S.STOPPING, (Act.CANCEL_TIMER, Act.SEND_STOP)),
    (S.RUNNING, Ev.EXIT, S.EXITED, (Act.LOG_EXIT,)),
    (S.RUNNING, Ev.STOP, S.STOPPING, (Act.SEND_STOP,)),
    (S.BACKOFF, Ev.RETRY, S.STARTING, (Act.SPAWN,)),
    (S.BACKOFF, Ev.GIVE_UP, S.FATAL, (Act.CANCEL_TIMER, Act.LOG_FATAL)),
    (S.BACKOFF, Ev.STOP, S.STOPPED, (Act.CANCEL_TIMER, Act.RESET_TRIES)),
    (S.STOPPING, Ev.EXIT, S.STOPPED, (Act.CANCEL_TIMER, Act.LOG_STOPPED)),
    (S.STOPPING, Ev.KILL_TIMEOUT, S.STOPPING, (Act.SEND_KILL,)),
    (S.STARTING, Ev.SIGNAL_ERROR, S.UNKNOWN, (Act.CANCEL_TIMER,)),
    (S.RUNNING, Ev.SIGNAL_ERROR, S.UNKNOWN, (Act.CANCEL_TIMER,)),
    (S.STOPPING, Ev.SIGNAL_ERROR, S.UNKNOWN, (Act.CANCEL_TIMER,)),
    (S.UNKNOWN, Ev.EXIT, S.STOPPED, (Act.CANCEL_TIMER, Act.LOG_STOPPED)),
]


@pytest.mark.parametrize(
    ("state", "event", "to", "actions"),
    EXPECTED,
    ids=[f"{s.name}+{e.name}" for s, e, _, _ in EXPECTED],
)
def test_row(state: S, event: Ev, to: S, actions: tuple[Act, ...]) -> None:
    row = lookup(state, event)
    assert row is not None
    assert row.to == to
    assert row.actions == actions


def test_every_row_is_listed() -> None:
    assert {(s, e) for s, e, _, _ in EXPECTED} == set(TABLE)


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("event", list(Ev))
def test_unlisted_pairs_mean_nothing(state: S, event: Ev) -> None:
    if (state, event) not in TABLE:
        assert lookup(state, event) is None


def test_actions_that_raise_events_come_last() -> None:
    # SPAWN, ARM_RETRY and LOG_EXIT may raise a nested event; nothing may follow them.
    chaining = {Act.SPAWN, Act.ARM_RETRY, Act.LOG_EXIT}
    for (state, event), row in TABLE.items():
        for act in row.actions[:-1]:
            assert act not in chaining, (state, event)


def test_stop_is_accepted_in_every_running_state() -> None:
    for state in (S.STARTING, S.RUNNING, S.BACKOFF):
        assert lookup(state, Ev.STOP) is not None
