"""Typed events and the bus that hands them to subscribers (listener pools, later others).

Producers build an `Event` (the `*_event` functions below know each payload) and call
`EventBus.publish`. Subscribers name event types; an abstract type (PROCESS_STATE, EVENT...)
receives all its descendants. Events nobody subscribed to cost one dict lookup and get no
serial, which is how Supervisor numbers them too (a serial is taken when a pool accepts).

TICK_5/60/3600 are timers armed only while someone subscribes to them (or to TICK or EVENT),
each firing once per period boundary of the wall clock; an idle daemon with no such listener
has no timer at all.
"""

from __future__ import annotations

import asyncio
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from corral.logs.mainlog import MainLog
from corral.wire import events as wire
from corral.wire.states import ProcessState

__all__ = [
    "Event",
    "EventBus",
    "Subscription",
    "communication_event",
    "group_event",
    "log_event",
    "remote_event",
    "state_event",
    "supervisor_state_event",
    "tick_event",
]

MAXSERIAL = sys.maxsize


def next_serial(serial: int) -> int:
    """Serials start at 0 and wrap at maxint, as Supervisor's do."""
    return 0 if serial >= MAXSERIAL else serial + 1


@dataclass(eq=False)
class Event:
    """One event: its concrete type name and payload text. `serial` is global, given by the
    bus when the first subscriber takes it."""

    name: str
    payload: str
    serial: int | None = None
    _body: bytes | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = wire.encode(self.payload)
        return self._body


class ProcessFacts(Protocol):
    """What an event needs to know about a process (runtime.process.Process has it all)."""

    name: str
    group: str
    pid: int
    tries: int
    exitstatus: int

    @property
    def config(self) -> _HasExitcodes: ...


class _HasExitcodes(Protocol):
    @property
    def exitcodes(self) -> tuple[int, ...]: ...


# The last pid each process had: the runtime clears `pid` before it reports the exit, but
# EXITED/STOPPED name the pid that ended.
_last_pid: weakref.WeakKeyDictionary[ProcessFacts, int] = weakref.WeakKeyDictionary()


def state_event(proc: ProcessFacts, old: ProcessState, new: ProcessState) -> Event | None:
    """PROCESS_STATE_<new> for a change old -> new, called from the state-change hook (before
    the row's actions run). Call it on every change, so the pid is remembered for EXITED."""
    if proc.pid:
        _last_pid[proc] = proc.pid
    if new.name not in wire.PROCESS_STATE_NAMES or old == new:
        return None
    pid = proc.pid or _last_pid.get(proc, 0)
    tries = proc.tries
    if new == ProcessState.BACKOFF:
        tries += 1  # the failure is counted by the row's action, after this hook
    elif new == ProcessState.STARTING and old != ProcessState.BACKOFF:
        tries = 0  # a fresh start resets the count (also by a later action)
    if new == ProcessState.STOPPED and old == ProcessState.BACKOFF:
        pid = 0
    code = proc.exitstatus
    expected = code in proc.config.exitcodes and code != -1
    payload = wire.process_state_payload(
        new.name, proc.name, proc.group, old.name, tries=tries, pid=pid, expected=expected
    )
    return Event(f"PROCESS_STATE_{new.name}", payload)


def log_event(proc: ProcessFacts, channel: str, data: bytes) -> Event:
    return Event(
        wire.log_event_name(channel),
        wire.process_log_payload(proc.name, proc.group, proc.pid, channel, data),
    )


def communication_event(proc: ProcessFacts, channel: str, data: bytes) -> Event:
    return Event(
        wire.communication_event_name(channel),
        wire.process_communication_payload(proc.name, proc.group, proc.pid, data),
    )


def remote_event(type_: str, data: str) -> Event:
    return Event("REMOTE_COMMUNICATION", wire.remote_communication_payload(type_, data))


def group_event(groupname: str, *, added: bool) -> Event:
    name = "PROCESS_GROUP_ADDED" if added else "PROCESS_GROUP_REMOVED"
    return Event(name, wire.process_group_payload(groupname))


def supervisor_state_event(*, running: bool) -> Event:
    name = "SUPERVISOR_STATE_CHANGE_RUNNING" if running else "SUPERVISOR_STATE_CHANGE_STOPPING"
    return Event(name, wire.supervisor_state_payload())


def tick_event(period: int, when: int) -> Event:
    return Event(f"TICK_{period}", wire.tick_payload(when))


Callback = Callable[[Event], None]


class Subscription:
    def __init__(self, bus: EventBus, types: frozenset[str], callback: Callback) -> None:
        self.bus = bus
        self.types = types
        self.callback = callback

    def cancel(self) -> None:
        self.bus._unsubscribe(self)


class EventBus:
    def __init__(
        self, identifier: str, mainlog: MainLog, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.identifier = identifier  # the `server:` of every header; may change on reload
        self.log = mainlog
        self._loop = loop
        self._subs: list[Subscription] = []
        self._by_type: dict[str, list[Subscription]] = {}  # concrete type -> subscribers
        self._serial = -1
        self._ticks: dict[int, asyncio.TimerHandle] = {}
        self._closed = False

    # --- subscribers ------------------------------------------------------------------

    def subscribe(self, types: Iterable[str], callback: Callback) -> Subscription:
        """Deliver events of these types (abstract ones included) to callback, in order."""
        sub = Subscription(self, frozenset(types), callback)
        unknown = sorted(t for t in sub.types if not wire.is_known(t))
        if unknown:
            self.log.warn(f"ignoring unknown event type(s) {', '.join(unknown)}")
        self._subs.append(sub)
        self._reindex()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._reindex()

    def _reindex(self) -> None:
        self._by_type = {
            t: [s for s in self._subs if any(a in s.types for a in wire.lineage(t))]
            for t in wire.CONCRETE
        }
        self._arm_ticks()

    def has_subscribers(self, type_name: str) -> bool:
        """Anyone listening for this type? (Lets producers skip building events.)"""
        subs = self._by_type.get(type_name)
        if subs is not None:  # a concrete type: the hot path, one lookup
            return bool(subs)
        return any(self._by_type.get(t) for t in wire.descendants(type_name))

    # --- publishing -------------------------------------------------------------------

    @property
    def serial(self) -> int:
        """The last global serial handed out (-1 before the first)."""
        return self._serial

    def publish(self, event: Event | None) -> None:
        """Hand the event to every subscriber of its type; None (no event) is ignored."""
        if event is None or self._closed:
            return
        subs = self._by_type.get(event.name)
        if not subs:
            return
        if event.serial is None:
            self._serial = next_serial(self._serial)
            event.serial = self._serial
        for sub in list(subs):
            sub.callback(event)

    def publish_remote(self, type_: str, data: str) -> None:
        self.publish(remote_event(type_, data))

    def publish_output(self, proc: ProcessFacts, channel: str, data: bytes) -> None:
        """PROCESS_LOG_<channel> for one chunk, built only if someone listens."""
        if data and self.has_subscribers(wire.log_event_name(channel)):
            self.publish(log_event(proc, channel, data))

    def publish_capture(self, proc: ProcessFacts, channel: str, data: bytes) -> None:
        """PROCESS_COMMUNICATION_<channel> for one captured body."""
        if self.has_subscribers(wire.communication_event_name(channel)):
            self.publish(communication_event(proc, channel, data))

    # --- ticks --------------------------------------------------------------------------

    def _arm_ticks(self) -> None:
        for name, period in wire.TICK_PERIODS.items():
            wanted = bool(self._by_type.get(name)) and not self._closed
            handle = self._ticks.get(period)
            if wanted and handle is None:
                self._schedule_tick(period, time.time())
            elif not wanted and handle is not None:
                handle.cancel()
                del self._ticks[period]

    def _schedule_tick(self, period: int, after: float) -> None:
        loop = self._loop
        if loop is None:
            try:
                loop = self._loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # armed by the first subscribe made on a running loop
        boundary = (int(after) // period + 1) * period
        delay = max(0.0, boundary - time.time())
        self._ticks[period] = loop.call_at(loop.time() + delay, self._tick, period, boundary)

    def _tick(self, period: int, boundary: int) -> None:
        del self._ticks[period]
        now = time.time()
        if now < boundary:  # the loop's clock ran ahead of the wall clock: wait the rest
            self._ticks[period] = self._loop_call_later(boundary - now, period, boundary)
            return
        when = int(now) // period * period
        self._schedule_tick(period, float(max(when, boundary)))
        self.publish(tick_event(period, when))

    def _loop_call_later(self, delay: float, period: int, boundary: int) -> asyncio.TimerHandle:
        assert self._loop is not None
        return self._loop.call_later(delay, self._tick, period, boundary)

    def tick_armed(self, period: int) -> bool:
        return period in self._ticks

    def close(self) -> None:
        """Cancel the tick timers; later publishes are dropped."""
        self._closed = True
        for handle in self._ticks.values():
            handle.cancel()
        self._ticks.clear()
