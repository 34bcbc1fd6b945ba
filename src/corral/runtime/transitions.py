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
    DEPS_MET = auto()  # every depends_on entry holds now (the dependency tracker says so)
    DEPS_FAILED = auto()  # a dependency failed for good: this start cannot happen
    NOT_READY = auto()  # ready_timeout passed without the ready_check passing
    UNHEALTHY = auto()  # health_retries failed probes in a row (or the watchdog expired)
    WATCHDOG = auto()  # no WATCHDOG=1 within watchdog_sec
    RESTART = auto()  # restart_delay is over: the autorestart may happen now
    # follow-ups the machine raises after a row, to take a decision in the new state
    FAILED = auto()  # entered BACKOFF: retry later, or give up
    ENDED = auto()  # entered EXITED: autorestart, or stay


class Act(Enum):
    # bookkeeping (prepare)
    RESET_TRIES = auto()  # backoff counter back to 0
    COUNT_TRY = auto()  # one more failed start
    NOTE_TOO_QUICK = auto()  # spawnerr 'Exited too quickly ...'; no exit status
    NOTE_BAD_EXIT = auto()  # spawnerr 'Bad exit code N' when the exit was not expected
    NOTE_NOT_READY = auto()  # spawnerr 'ready check X not passed after N s: why'
    NOTE_DEP_FAILED = auto()  # spawnerr 'dependency db failed (...)'
    NOTE_UNHEALTHY = auto()  # why the coming stop happens (restart after it, or stay down)
    NOTE_WATCHDOG = auto()  # health 'unhealthy' with the watchdog as the reason
    STOP_WAITING = auto()  # no longer waiting for dependencies
    COUNT_RESTART = auto()  # one more automatic restart (the `restarts` figure)
    # I/O (actions)
    SPAWN = auto()  # fork/exec; its outcome comes back as SPAWNED or SPAWN_FAILED
    WAIT_DEPS = auto()  # say what we wait for; start the dependencies that are down
    WATCH_READY = auto()  # arm ready_timeout, start listening/probing for readiness
    WATCH_HEALTH = auto()  # start the health probes and the watchdog (if configured)
    ARM_RESTART = auto()  # RESTART after restart_delay
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
    LOG_NOT_READY = auto()  # 'not ready: x: ready check ...; stopping'
    LOG_DEP_FAILED = auto()  # 'gave up: x entered FATAL state, dependency ... failed'
    LOG_UNHEALTHY = auto()  # 'unhealthy: x: <check> <detail> (N in a row); restarting'


class Timer(Enum):
    """Named timer slots; `state` is the state that owns the slot."""

    STARTSECS = (S.STARTING, Ev.STARTSECS)
    READY = (S.STARTING, Ev.NOT_READY)  # ready_timeout
    BACKOFF = (S.BACKOFF, Ev.BACKOFF_OVER)
    STOP = (S.STOPPING, Ev.KILL_TIMEOUT)
    WATCHDOG = (S.RUNNING, Ev.WATCHDOG)  # watchdog_sec, re-armed by each WATCHDOG=1
    RESTART = (S.EXITED, Ev.RESTART)  # restart_delay

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
    @property
    def wants_up(self) -> bool: ...
    @property
    def deps_unmet(self) -> bool: ...
    @property
    def waiting_for_deps(self) -> bool: ...
    @property
    def stop_reason(self) -> StopReason: ...
    @property
    def health_action(self) -> str: ...
    @property
    def restart_delay(self) -> float: ...
    @property
    def restart_pending(self) -> bool: ...
    @property
    def stayed_up(self) -> bool: ...


class StopReason(Enum):
    """Why the machine itself stopped a process (the operator's stops have none)."""

    NONE = auto()
    NOT_READY = auto()  # ready_timeout: a failed start, retried through BACKOFF
    UNHEALTHY = auto()  # health_action = restart: started again once stopped


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


def stayed_up_startsecs(p: Facts) -> bool:
    """An exit seen in STARTING from a child that had run for startsecs (its timer was
    due in the same loop turn): a run that ended, not a failed start, as 4.3 decides by
    elapsed time."""
    return p.stayed_up


def waits_for_ready(p: Facts) -> bool:
    """A readiness check decides RUNNING; startsecs is then not used."""
    return p.wants_ready_check


def deps_unmet(p: Facts) -> bool:
    return p.deps_unmet


def waiting_for_deps(p: Facts) -> bool:
    """STARTING without a child: waiting for dependencies."""
    return p.waiting_for_deps


def retry_not_ready(p: Facts) -> bool:
    """Stopped for not getting ready in time, and still wanted up: a failed start."""
    return p.stop_reason is StopReason.NOT_READY and p.wants_up


def restart_unhealthy(p: Facts) -> bool:
    return p.stop_reason is StopReason.UNHEALTHY and p.wants_up and not p.shutting_down


def unhealthy_restarts(p: Facts) -> bool:
    return p.health_action == "restart"


def unhealthy_stops(p: Facts) -> bool:
    return p.health_action == "stop"


def restart_pending(p: Facts) -> bool:
    return p.restart_pending


def autorestart_later(p: Facts) -> bool:
    return p.restart_delay > 0 and should_autorestart(p)


class Row(NamedTuple):
    to: S
    actions: tuple[Act, ...] = ()
    prepare: tuple[Act, ...] = ()
    then: Ev | None = None
    guard: Guard | None = None


# starting from rest, with a fresh retry budget; first the dependencies, if any are not met
FRESH_START = (
    Row(S.STARTING, (Act.WAIT_DEPS,), prepare=(Act.RESET_TRIES,), guard=deps_unmet),
    Row(S.STARTING, (Act.SPAWN,), prepare=(Act.RESET_TRIES,)),
)
STOPPED_WHEN_UNHEALTHY = Row(
    S.STOPPING, (Act.LOG_UNHEALTHY, Act.SEND_STOP), prepare=(Act.NOTE_UNHEALTHY,)
)

TABLE: dict[tuple[S, Ev], tuple[Row, ...]] = {
    (S.STOPPED, Ev.START): FRESH_START,
    (S.EXITED, Ev.START): FRESH_START,
    (S.FATAL, Ev.START): FRESH_START,
    (S.UNKNOWN, Ev.START): FRESH_START,
    # an operator start during BACKOFF tries again now (the backoff timer goes with BACKOFF)
    (S.BACKOFF, Ev.START): FRESH_START,
    # STARTING, waiting for dependencies (no child yet)
    (S.STARTING, Ev.DEPS_MET): (Row(S.STARTING, (Act.SPAWN,), guard=waiting_for_deps),),
    (S.STARTING, Ev.DEPS_FAILED): (
        Row(S.FATAL, (Act.LOG_DEP_FAILED,), prepare=(Act.NOTE_DEP_FAILED,), guard=waiting_for_deps),
    ),
    # STARTING
    (S.STARTING, Ev.SPAWNED): (
        Row(S.STARTING, (Act.LOG_SPAWNED,), then=Ev.STARTSECS, guard=running_at_once),
        Row(S.STARTING, (Act.LOG_SPAWNED, Act.WATCH_READY), guard=waits_for_ready),
        Row(S.STARTING, (Act.LOG_SPAWNED, Act.ARM_STARTSECS)),
    ),
    (S.STARTING, Ev.SPAWN_FAILED): (Row(S.BACKOFF, prepare=(Act.COUNT_TRY,), then=Ev.FAILED),),
    (S.STARTING, Ev.STARTSECS): (
        Row(S.RUNNING, (Act.LOG_RUNNING, Act.WATCH_HEALTH), prepare=(Act.RESET_TRIES,)),
    ),
    (S.STARTING, Ev.READY): (
        Row(S.RUNNING, (Act.LOG_READY, Act.WATCH_HEALTH), prepare=(Act.RESET_TRIES,)),
    ),
    (S.STARTING, Ev.NOT_READY): (
        Row(S.STOPPING, (Act.LOG_NOT_READY, Act.SEND_STOP), prepare=(Act.NOTE_NOT_READY,)),
    ),
    (S.STARTING, Ev.EXIT): (
        # 4.3 enters RUNNING here without its success line, then EXITED
        Row(S.RUNNING, prepare=(Act.RESET_TRIES,), then=Ev.EXIT, guard=stayed_up_startsecs),
        Row(
            S.BACKOFF,
            (Act.FORGET_CHILD, Act.LOG_TOO_QUICK),
            prepare=(Act.NOTE_TOO_QUICK, Act.COUNT_TRY),
            then=Ev.FAILED,
        ),
    ),
    (S.STARTING, Ev.STOP): (
        Row(S.STOPPED, prepare=(Act.STOP_WAITING,), guard=waiting_for_deps),
        Row(S.STOPPING, (Act.SEND_STOP,)),
    ),
    # RUNNING
    (S.RUNNING, Ev.EXIT): (
        Row(
            S.EXITED, (Act.FORGET_CHILD, Act.LOG_EXIT), prepare=(Act.NOTE_BAD_EXIT,), then=Ev.ENDED
        ),
    ),
    (S.RUNNING, Ev.STOP): (Row(S.STOPPING, (Act.SEND_STOP,)),),
    (S.RUNNING, Ev.WATCHDOG): (Row(S.RUNNING, prepare=(Act.NOTE_WATCHDOG,), then=Ev.UNHEALTHY),),
    (S.RUNNING, Ev.UNHEALTHY): (
        STOPPED_WHEN_UNHEALTHY._replace(guard=unhealthy_restarts),
        STOPPED_WHEN_UNHEALTHY._replace(guard=unhealthy_stops),
        Row(S.RUNNING, (Act.LOG_UNHEALTHY,)),
    ),
    # EXITED: the autorestart policy, at once or after restart_delay
    (S.EXITED, Ev.ENDED): (
        Row(S.EXITED, (Act.ARM_RESTART,), guard=autorestart_later),
        Row(S.STARTING, (Act.SPAWN,), prepare=(Act.COUNT_RESTART,), guard=should_autorestart),
    ),
    (S.EXITED, Ev.RESTART): (
        Row(S.STARTING, (Act.SPAWN,), prepare=(Act.COUNT_RESTART,), guard=should_autorestart),
    ),
    # a stop while the delayed restart is pending: the restart is off
    (S.EXITED, Ev.STOP): (Row(S.STOPPED, guard=restart_pending),),
    # BACKOFF
    (S.BACKOFF, Ev.FAILED): (
        Row(S.FATAL, (Act.LOG_FATAL,), guard=retries_exhausted),
        Row(S.BACKOFF, (Act.ARM_BACKOFF,)),
    ),
    (S.BACKOFF, Ev.BACKOFF_OVER): (Row(S.STARTING, (Act.SPAWN,), prepare=(Act.COUNT_RESTART,)),),
    # stopping a BACKOFF process also forgets its failures, so a later start gets every retry
    (S.BACKOFF, Ev.STOP): (Row(S.STOPPED, prepare=(Act.RESET_TRIES,)),),
    # STOPPING
    (S.STOPPING, Ev.EXIT): (
        # stopped for not getting ready: a failed start, retried or given up
        Row(
            S.BACKOFF,
            (Act.FORGET_CHILD, Act.LOG_STOPPED),
            prepare=(Act.COUNT_TRY,),
            then=Ev.FAILED,
            guard=retry_not_ready,
        ),
        # stopped for being unhealthy (health_action = restart): up again at once
        Row(
            S.STOPPED,
            (Act.FORGET_CHILD, Act.LOG_STOPPED),
            prepare=(Act.COUNT_RESTART,),
            then=Ev.START,
            guard=restart_unhealthy,
        ),
        Row(S.STOPPED, (Act.FORGET_CHILD, Act.LOG_STOPPED)),
    ),
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
