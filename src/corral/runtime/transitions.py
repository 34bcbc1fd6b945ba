"""The process state machine as data: (state, event) -> guarded rows. No I/O here.

A row says where the process goes, the bookkeeping done before the change is published
(`prepare`: counters and exit facts that the PROCESS_STATE_* payload reports), the I/O done
after it (`actions`), and an optional follow-up event (`then`) that the machine raises next,
after the row completes: actions never raise events themselves, except by reporting the
outcome of I/O they started (spawn, signal delivery), which the process queues.

Decisions are guards, pure functions of a read-only view of the process (`Facts`), named
in the table: retry or give up, autorestart or not, RUNNING at once or after startsecs. The
first row of a pair whose guard passes (or that has none) is taken.

Timers live in named slots; each slot belongs to one state and is cancelled when the
process leaves that state, so no row has to remember to cancel it.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, auto
from typing import NamedTuple, Protocol

from corral.config.model import AutoRestart
from corral.wire.states import ProcessState as S


class Ev(Enum):
    START = auto()  # the operator (or autostart) wants the process up
    STOP = auto()  # the operator wants it down
    SPAWNED = auto()  # fork/exec succeeded: the child has a pid
    SPAWN_FAILED = auto()  # fork/exec or a pre-spawn check failed
    STARTSECS = auto()  # stayed up for startsecs (raised at once when startsecs is 0)
    READY = auto()  # a readiness signal (notify, fd, log line, probe) passed
    EXIT = auto()  # the child was reaped
    BACKOFF_OVER = auto()  # the backoff delay is over
    KILL_TIMEOUT = auto()  # stopwaitsecs passed while STOPPING
    SIGNAL_ERROR = auto()  # sending a signal failed in an unexpected way
    # follow-ups the machine raises after a row, to take a decision in the new state
    FAILED = auto()  # entered BACKOFF: retry later, or give up
    ENDED = auto()  # entered EXITED: autorestart, or stay


class Act(Enum):
    # bookkeeping (prepare)
    RESET_TRIES = auto()  # backoff counter back to 0
    COUNT_TRY = auto()  # one more failed start
    NOTE_TOO_QUICK = auto()  # spawnerr 'Exited too quickly ...'; no exit status
    NOTE_BAD_EXIT = auto()  # spawnerr 'Bad exit code N' when the exit was not expected
    # I/O (actions)
    SPAWN = auto()  # fork/exec; its outcome comes back as SPAWNED or SPAWN_FAILED
    LOG_SPAWNED = auto()  # "spawned: 'x' with pid N"
    ARM_STARTSECS = auto()  # STARTSECS after startsecs seconds
    ARM_BACKOFF = auto()  # BACKOFF_OVER after `tries` seconds
    SEND_STOP = auto()  # stopsignal (to the group if stopasgroup); arms KILL_TIMEOUT
    SEND_KILL = auto()  # SIGKILL (to the group if killasgroup)
    FORGET_CHILD = auto()  # the reaped child's pid is no longer ours
    LOG_EXIT = auto()  # 'exited: x (...; expected|not expected)'
    LOG_TOO_QUICK = auto()  # 'exited: x (...; not expected)' for a failed start
    LOG_STOPPED = auto()  # 'stopped: ...'
    LOG_RUNNING = auto()  # 'success: ... entered RUNNING state, process has stayed up ...'
    LOG_READY = auto()  # 'success: ... entered RUNNING state, ready (...)'
    LOG_FATAL = auto()  # 'gave up: ... entered FATAL state'


class Timer(Enum):
    """Named timer slots; `state` is the state that owns the slot."""

    STARTSECS = (S.STARTING, Ev.STARTSECS)
    READY = (S.STARTING, None)  # readiness timeout (readiness checks plug in here)
    BACKOFF = (S.BACKOFF, Ev.BACKOFF_OVER)
    STOP = (S.STOPPING, Ev.KILL_TIMEOUT)
    HEALTH = (S.RUNNING, None)  # health probe interval (health checks plug in here)

    @property
    def state(self) -> S:
        owner: S = self.value[0]
        return owner


class Facts(Protocol):
    """What guards may read about a process."""

    @property
    def tries(self) -> int: ...
    @property
    def startretries(self) -> int: ...
    @property
    def startsecs(self) -> int: ...
    @property
    def autorestart(self) -> AutoRestart: ...
    @property
    def exit_expected(self) -> bool: ...
    @property
    def shutting_down(self) -> bool: ...
    @property
    def wants_ready_check(self) -> bool: ...


Guard = Callable[[Facts], bool]


def retries_exhausted(p: Facts) -> bool:
    """No more tries after this failure: over startretries, or the daemon is going away."""
    return p.tries > p.startretries or p.shutting_down


def should_autorestart(p: Facts) -> bool:
    if p.shutting_down or p.autorestart is AutoRestart.NEVER:
        return False
    return p.autorestart is AutoRestart.ALWAYS or not p.exit_expected


def running_at_once(p: Facts) -> bool:
    """startsecs = 0 and nothing else to wait for: RUNNING as soon as spawned."""
    return p.startsecs <= 0 and not p.wants_ready_check


def waits_for_ready(p: Facts) -> bool:
    """A readiness check decides RUNNING; startsecs is then not used."""
    return p.wants_ready_check


class Row(NamedTuple):
    to: S
    actions: tuple[Act, ...] = ()
    prepare: tuple[Act, ...] = ()
    then: Ev | None = None
    guard: Guard | None = None


FRESH_START = Row(S.STARTING, (Act.SPAWN,), prepare=(Act.RESET_TRIES,))

TABLE: dict[tuple[S, Ev], tuple[Row, ...]] = {
    # starting from rest, with a fresh retry budget
    (S.STOPPED, Ev.START): (FRESH_START,),
    (S.EXITED, Ev.START): (FRESH_START,),
    (S.FATAL, Ev.START): (FRESH_START,),
    (S.UNKNOWN, Ev.START): (FRESH_START,),
    # an operator start during BACKOFF tries again now (the backoff timer goes with BACKOFF)
    (S.BACKOFF, Ev.START): (FRESH_START,),
    # STARTING
    (S.STARTING, Ev.SPAWNED): (
        Row(S.STARTING, (Act.LOG_SPAWNED,), then=Ev.STARTSECS, guard=running_at_once),
        Row(S.STARTING, (Act.LOG_SPAWNED,), guard=waits_for_ready),
        Row(S.STARTING, (Act.LOG_SPAWNED, Act.ARM_STARTSECS)),
    ),
    (S.STARTING, Ev.SPAWN_FAILED): (Row(S.BACKOFF, prepare=(Act.COUNT_TRY,), then=Ev.FAILED),),
    (S.STARTING, Ev.STARTSECS): (Row(S.RUNNING, (Act.LOG_RUNNING,), prepare=(Act.RESET_TRIES,)),),
    (S.STARTING, Ev.READY): (Row(S.RUNNING, (Act.LOG_READY,), prepare=(Act.RESET_TRIES,)),),
    (S.STARTING, Ev.EXIT): (
        Row(
            S.BACKOFF,
            (Act.FORGET_CHILD, Act.LOG_TOO_QUICK),
            prepare=(Act.NOTE_TOO_QUICK, Act.COUNT_TRY),
            then=Ev.FAILED,
        ),
    ),
    (S.STARTING, Ev.STOP): (Row(S.STOPPING, (Act.SEND_STOP,)),),
    # RUNNING
    (S.RUNNING, Ev.EXIT): (
        Row(
            S.EXITED, (Act.FORGET_CHILD, Act.LOG_EXIT), prepare=(Act.NOTE_BAD_EXIT,), then=Ev.ENDED
        ),
    ),
    (S.RUNNING, Ev.STOP): (Row(S.STOPPING, (Act.SEND_STOP,)),),
    # EXITED: the autorestart policy
    (S.EXITED, Ev.ENDED): (Row(S.STARTING, (Act.SPAWN,), guard=should_autorestart),),
    # BACKOFF
    (S.BACKOFF, Ev.FAILED): (
        Row(S.FATAL, (Act.LOG_FATAL,), guard=retries_exhausted),
        Row(S.BACKOFF, (Act.ARM_BACKOFF,)),
    ),
    (S.BACKOFF, Ev.BACKOFF_OVER): (Row(S.STARTING, (Act.SPAWN,)),),
    # stopping a BACKOFF process also forgets its failures, so a later start gets every retry
    (S.BACKOFF, Ev.STOP): (Row(S.STOPPED, prepare=(Act.RESET_TRIES,)),),
    # STOPPING
    (S.STOPPING, Ev.EXIT): (Row(S.STOPPED, (Act.FORGET_CHILD, Act.LOG_STOPPED)),),
    (S.STOPPING, Ev.KILL_TIMEOUT): (Row(S.STOPPING, (Act.SEND_KILL,)),),
    # a stop that came while the spawn was still under way: stop the child it produced
    (S.STOPPING, Ev.SPAWNED): (Row(S.STOPPING, (Act.LOG_SPAWNED, Act.SEND_STOP)),),
    (S.STOPPING, Ev.SPAWN_FAILED): (Row(S.STOPPED),),
    # a signal we could not deliver leaves us not knowing what the process does
    (S.STARTING, Ev.SIGNAL_ERROR): (Row(S.UNKNOWN),),
    (S.RUNNING, Ev.SIGNAL_ERROR): (Row(S.UNKNOWN),),
    (S.STOPPING, Ev.SIGNAL_ERROR): (Row(S.UNKNOWN),),
    # an exit seen in UNKNOWN settles it
    (S.UNKNOWN, Ev.EXIT): (Row(S.STOPPED, (Act.FORGET_CHILD, Act.LOG_STOPPED)),),
}


def choose(state: S, event: Ev, facts: Facts) -> Row | None:
    """The row taken for `event` in `state`, or None when the event means nothing there."""
    for row in TABLE.get((state, event), ()):
        if row.guard is None or row.guard(facts):
            return row
    return None
