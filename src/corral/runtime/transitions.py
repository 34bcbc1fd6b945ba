"""The process state machine as data: (state, event) -> (next state, actions). No I/O here.

`process.py` looks rows up and carries out the actions in order. Guards (is this exit
expected? are retries left?) are decided by the process *before* it raises an event, so every
row is unconditional and the whole machine can be tested row by row.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import NamedTuple

from corral.wire.states import ProcessState as S


class Ev(Enum):
    START = auto()  # operator (or autostart) asks for the process to run
    STOP = auto()  # operator asks for it to stop
    SPAWN_FAILED = auto()  # fork/exec or a pre-spawn check failed
    STARTED = auto()  # stayed up for startsecs (or startsecs == 0), or a readiness signal
    EXIT = auto()  # the child was reaped
    RETRY = auto()  # the backoff delay is over and retries are left
    GIVE_UP = auto()  # entered BACKOFF with no retries left
    AUTORESTART = auto()  # exited, and autorestart says to start again
    KILL_TIMEOUT = auto()  # stopwaitsecs passed while STOPPING
    SIGNAL_ERROR = auto()  # sending a signal failed in an unexpected way


class Act(Enum):
    SPAWN = auto()  # fork/exec; raises SPAWN_FAILED or arms the startsecs timer
    RESET_TRIES = auto()  # backoff counter back to 0
    CANCEL_TIMER = auto()  # drop any pending startsecs/backoff/kill timer
    ARM_RETRY = auto()  # count a failure; RETRY after `tries` seconds, or GIVE_UP
    SEND_STOP = auto()  # stopsignal (to the group if stopasgroup), arm KILL_TIMEOUT
    SEND_KILL = auto()  # SIGKILL (to the group if killasgroup)
    LOG_EXIT = auto()  # 'exited: ...' and maybe AUTORESTART
    LOG_STOPPED = auto()  # 'stopped: ...'
    LOG_RUNNING = auto()  # 'success: ... entered RUNNING state'
    LOG_FATAL = auto()  # 'gave up: ... entered FATAL state'
    NOTE_TOO_QUICK = auto()  # 'exited: ... not expected', spawnerr 'Exited too quickly ...'


class Row(NamedTuple):
    to: S
    actions: tuple[Act, ...]


TABLE: dict[tuple[S, Ev], Row] = {
    # starting from rest
    (S.STOPPED, Ev.START): Row(S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.EXITED, Ev.START): Row(S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.FATAL, Ev.START): Row(S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    (S.UNKNOWN, Ev.START): Row(S.STARTING, (Act.RESET_TRIES, Act.SPAWN)),
    # an operator start during BACKOFF tries again now, with a fresh retry budget
    (S.BACKOFF, Ev.START): Row(S.STARTING, (Act.CANCEL_TIMER, Act.RESET_TRIES, Act.SPAWN)),
    (S.EXITED, Ev.AUTORESTART): Row(S.STARTING, (Act.SPAWN,)),
    # STARTING
    (S.STARTING, Ev.SPAWN_FAILED): Row(S.BACKOFF, (Act.CANCEL_TIMER, Act.ARM_RETRY)),
    (S.STARTING, Ev.STARTED): Row(S.RUNNING, (Act.CANCEL_TIMER, Act.RESET_TRIES, Act.LOG_RUNNING)),
    (S.STARTING, Ev.EXIT): Row(S.BACKOFF, (Act.CANCEL_TIMER, Act.NOTE_TOO_QUICK, Act.ARM_RETRY)),
    (S.STARTING, Ev.STOP): Row(S.STOPPING, (Act.CANCEL_TIMER, Act.SEND_STOP)),
    # RUNNING
    (S.RUNNING, Ev.EXIT): Row(S.EXITED, (Act.LOG_EXIT,)),
    (S.RUNNING, Ev.STOP): Row(S.STOPPING, (Act.SEND_STOP,)),
    # BACKOFF
    (S.BACKOFF, Ev.RETRY): Row(S.STARTING, (Act.SPAWN,)),
    (S.BACKOFF, Ev.GIVE_UP): Row(S.FATAL, (Act.CANCEL_TIMER, Act.LOG_FATAL)),
    # stopping a BACKOFF process also forgets its failures, so a later start gets every retry
    (S.BACKOFF, Ev.STOP): Row(S.STOPPED, (Act.CANCEL_TIMER, Act.RESET_TRIES)),
    # STOPPING
    (S.STOPPING, Ev.EXIT): Row(S.STOPPED, (Act.CANCEL_TIMER, Act.LOG_STOPPED)),
    (S.STOPPING, Ev.KILL_TIMEOUT): Row(S.STOPPING, (Act.SEND_KILL,)),
    # a signal we could not deliver leaves us not knowing what the process does
    (S.STARTING, Ev.SIGNAL_ERROR): Row(S.UNKNOWN, (Act.CANCEL_TIMER,)),
    (S.RUNNING, Ev.SIGNAL_ERROR): Row(S.UNKNOWN, (Act.CANCEL_TIMER,)),
    (S.STOPPING, Ev.SIGNAL_ERROR): Row(S.UNKNOWN, (Act.CANCEL_TIMER,)),
    # an exit seen in UNKNOWN settles it
    (S.UNKNOWN, Ev.EXIT): Row(S.STOPPED, (Act.CANCEL_TIMER, Act.LOG_STOPPED)),
}


def lookup(state: S, event: Ev) -> Row | None:
    """The row for (state, event), or None when the event means nothing in that state."""
    return TABLE.get((state, event))
