"""Typed events and the bus that hands them to subscribers (listener pools, later others).

Producers publish typed events (the dataclasses below: facts, not text); internal consumers
read their fields. Supervisor's wire text (`payload`, `body`) is rendered on first use, which
only a listener pool does, for events it sends. Subscribers name event types; an abstract type
(PROCESS_STATE, EVENT...) receives all its descendants. Events nobody subscribed to cost one
dict lookup and get no serial, which is how Supervisor numbers them too.

TICK_5/60/3600 are timers armed only while someone subscribes to them (or to TICK or EVENT),
each firing once per period boundary of the wall clock; an idle daemon with no such listener
has no timer at all.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from corral.logs.mainlog import MainLog
from corral.wire import events as wire
from corral.wire.states import ProcessState

__all__ = [
    "Event",
    "EventBus",
    "GroupChanged",
    "ProcessCommunication",
    "ProcessOutput",
    "ProcessStateChanged",
    "RemoteCommunication",
    "Subscription",
    "SupervisorStateChanged",
    "TextEvent",
    "Tick",
]

MAXSERIAL = sys.maxsize


def next_serial(serial: int) -> int:
    """Serials start at 0 and wrap at maxint, as Supervisor's do."""
    return 0 if serial >= MAXSERIAL else serial + 1


@dataclass(eq=False)
class Event:
    """Base of every event. `serial` is global, given by the bus when the first subscriber
    takes it; `name` is the concrete Supervisor type name."""

    serial: int | None = field(default=None, init=False, kw_only=True)
    _payload: str | None = field(default=None, init=False, repr=False, kw_only=True)
    _body: bytes | None = field(default=None, init=False, repr=False, kw_only=True)

    @property
    def name(self) -> str:
        raise NotImplementedError

    def render(self) -> str:
        """The payload text as a listener receives it."""
        raise NotImplementedError

    @property
    def payload(self) -> str:
        if self._payload is None:
            self._payload = self.render()
        return self._payload

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = wire.encode(self.payload)
        return self._body


@dataclass(eq=False)
class TextEvent(Event):
    """An event given by name and ready payload text (tests, and types with no fields)."""

    type_name: str
    text: str

    @property
    def name(self) -> str:
        return self.type_name

    def render(self) -> str:
        return self.text


@dataclass(eq=False)
class ProcessStateChanged(Event):
    """A process went from `old` to `new`; the facts are those at the moment of the change
    (the pid that ended for EXITED/STOPPED, the failure count for BACKOFF)."""

    process: str
    group: str
    old: ProcessState
    new: ProcessState
    pid: int
    tries: int
    expected: bool

    @property
    def name(self) -> str:
        return f"PROCESS_STATE_{self.new.name}"

    def render(self) -> str:
        return wire.process_state_payload(
            self.new.name,
            self.process,
            self.group,
            self.old.name,
            tries=self.tries,
            pid=self.pid,
            expected=self.expected,
        )


@dataclass(eq=False)
class _ProcessChunk(Event):
    """Bytes a process wrote on one channel."""

    process: str
    group: str
    pid: int
    channel: str
    data: bytes


@dataclass(eq=False)
class ProcessOutput(_ProcessChunk):
    """One chunk written on a channel with stdout/stderr_events_enabled."""

    @property
    def name(self) -> str:
        return wire.log_event_name(self.channel)

    def render(self) -> str:
        return wire.process_log_payload(self.process, self.group, self.pid, self.channel, self.data)


@dataclass(eq=False)
class ProcessCommunication(_ProcessChunk):
    """A body written between the capture-mode tokens."""

    @property
    def name(self) -> str:
        return wire.communication_event_name(self.channel)

    def render(self) -> str:
        return wire.process_communication_payload(self.process, self.group, self.pid, self.data)


@dataclass(eq=False)
class RemoteCommunication(Event):
    type: str
    data: str

    @property
    def name(self) -> str:
        return "REMOTE_COMMUNICATION"

    def render(self) -> str:
        return wire.remote_communication_payload(self.type, self.data)


@dataclass(eq=False)
class GroupChanged(Event):
    group: str
    added: bool

    @property
    def name(self) -> str:
        return "PROCESS_GROUP_ADDED" if self.added else "PROCESS_GROUP_REMOVED"

    def render(self) -> str:
        return wire.process_group_payload(self.group)


@dataclass(eq=False)
class SupervisorStateChanged(Event):
    running: bool

    @property
    def name(self) -> str:
        return (
            "SUPERVISOR_STATE_CHANGE_RUNNING"
            if self.running
            else "SUPERVISOR_STATE_CHANGE_STOPPING"
        )

    def render(self) -> str:
        return wire.supervisor_state_payload()


@dataclass(eq=False)
class Tick(Event):
    period: int
    when: int

    @property
    def name(self) -> str:
        return f"TICK_{self.period}"

    def render(self) -> str:
        return wire.tick_payload(self.when)


class ProcessFacts(Protocol):
    """Who wrote some output: a process's names and current pid."""

    name: str
    group: str
    pid: int


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
        self.publish(RemoteCommunication(type_, data))

    def publish_output(self, proc: ProcessFacts, channel: str, data: bytes) -> None:
        """PROCESS_LOG_<channel> for one chunk, built only if someone listens."""
        if data and self.has_subscribers(wire.log_event_name(channel)):
            self.publish(ProcessOutput(proc.name, proc.group, proc.pid, channel, data))

    def publish_capture(self, proc: ProcessFacts, channel: str, data: bytes) -> None:
        """PROCESS_COMMUNICATION_<channel> for one captured body."""
        if self.has_subscribers(wire.communication_event_name(channel)):
            self.publish(ProcessCommunication(proc.name, proc.group, proc.pid, channel, data))

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
        self.publish(Tick(period, when))

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
