"""Event listener pools: one per [eventlistener:x], speaking Supervisor's listener protocol.

A pool subscribes to its `events=` on the bus and keeps a FIFO of at most `buffer_size`
events (the oldest is dropped on overflow). Each listener process moves through

    ACKNOWLEDGED --READY\\n--> READY --event written--> BUSY --RESULT n\\n+n bytes--> ACKNOWLEDGED

and an event goes to the first READY listener whose process is RUNNING, at once: when the
event arrives, when a listener says READY, when a process becomes RUNNING.

Where corral differs from 4.3, on purpose:
- a rejected event goes back to the head of this pool only, and the pool waits before
  redelivering (0.1 s doubling to 5 s, reset by the next success), instead of a busy loop;
- a listener that breaks the protocol is logged with 4.3's WARN and restarted, instead of
  staying RUNNING and deaf forever. The first restart is immediate; each further violation
  before the listener completes a result waits longer (1 s doubling to 60 s), so a listener
  that always breaks the protocol (a banner on stdout) is not restarted in a busy loop.

Errors: a result handler raising an exception whose class is named RejectEvent rejects the
event; any other exception rejects it and counts as a protocol violation.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from corral.config.convert import DEFAULT_HANDLER_NAMES, import_callable
from corral.config.model import EventListenerConfig
from corral.logs.mainlog import MainLog
from corral.runtime.eventbus import Event, EventBus, Subscription, next_serial
from corral.wire import events as wire
from corral.wire.states import ListenerState, ProcessState

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_START",
    "RESTART_BACKOFF_MAX",
    "RESTART_BACKOFF_START",
    "ListenerPool",
    "RejectEvent",
    "default_handler",
    "resolve_result_handler",
]

READY_TOKEN = b"READY\n"
RESULT_PREFIX = b"RESULT "
MAX_RESULT_LINE = 64  # 'RESULT <n>' never needs more; longer without a newline is garbage
BACKOFF_START = 0.1
BACKOFF_MAX = 5.0
RESTART_BACKOFF_START = 1.0
RESTART_BACKOFF_MAX = 60.0


class RejectEvent(Exception):  # the name is the protocol: 4.3's handlers raise it
    """Raised by a result handler to send the event back to the pool."""


ResultHandler = Callable[[Event, bytes], object]


def default_handler(event: Event, result: bytes) -> None:
    """4.3's default: the body `OK` accepts the event, anything else rejects it."""
    if result != b"OK":
        raise RejectEvent(result)


def resolve_result_handler(spec: str) -> ResultHandler:
    """The handler a [eventlistener:x] names; 4.3's and ours by name. Raises ValueError."""
    if not spec or spec in DEFAULT_HANDLER_NAMES:
        return default_handler
    handler: ResultHandler = import_callable(spec, "result_handler ")
    return handler


class ListenerProcess(Protocol):
    """What a pool needs from a listener's Process."""

    name: str
    state: ProcessState

    def write_stdin(self, data: bytes) -> None: ...


P = TypeVar("P", bound=ListenerProcess)


@dataclass(eq=False)
class Queued:
    event: Event
    poolserial: int


@dataclass(eq=False)
class Listener(Generic[P]):
    """Protocol state of one listener process."""

    proc: P
    state: ListenerState = ListenerState.ACKNOWLEDGED
    inbox: bytearray = field(default_factory=bytearray)
    current: Queued | None = None  # the event it holds while BUSY
    result_len: int | None = None
    violations: int = 0  # protocol violations since it last completed a result
    restart_timer: asyncio.TimerHandle | None = None


class ListenerPool(Generic[P]):
    def __init__(
        self,
        name: str,
        config: EventListenerConfig,
        bus: EventBus,
        log: MainLog,
        processes: Iterable[P],
        *,
        restart: Callable[[P], None],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.bus = bus
        self.log = log
        self._restart = restart
        self._loop = loop
        self._listeners = [Listener(p) for p in processes]
        self.queue: deque[Queued] = deque()
        self.poolserial = -1
        self._delay = 0.0  # current redelivery backoff; 0 when the last result was a success
        self._backoff: asyncio.TimerHandle | None = None
        self._dispatching = False
        self._again = False
        self._settle_waiters: list[asyncio.Future[None]] = []
        try:
            self._handler = resolve_result_handler(config.result_handler)
        except ValueError as e:
            self.log.error(f"pool {name}: {e}; using the default result handler")
            self._handler = default_handler
        self._sub: Subscription | None = bus.subscribe(config.events, self.accept)

    # --- views ---------------------------------------------------------------------------

    def listener_state(self, proc: P) -> ListenerState:
        return self._listener(proc).state

    def states(self) -> dict[str, ListenerState]:
        return {lst.proc.name: lst.state for lst in self._listeners}

    @property
    def backing_off(self) -> bool:
        return self._backoff is not None

    def _listener(self, proc: P) -> Listener[P]:
        for lst in self._listeners:
            if lst.proc is proc:
                return lst
        raise KeyError(proc.name)

    # --- the buffer ------------------------------------------------------------------------

    def accept(self, event: Event) -> None:
        """A new event from the bus: number it for this pool, buffer it, try to send it."""
        self.poolserial = next_serial(self.poolserial)
        self._buffer(Queued(event, self.poolserial), head=False)
        self.dispatch()

    def _buffer(self, item: Queued, *, head: bool) -> None:
        if len(self.queue) >= self.config.buffer_size and self.queue:
            dropped = self.queue.popleft()
            self.log.error(
                f"pool {self.name} event buffer overflowed, discarding event {dropped.event.serial}"
            )
        if self.config.buffer_size <= 0:
            self.log.error(
                f"pool {self.name} event buffer overflowed, discarding event {item.event.serial}"
            )
            return
        if head:
            self.queue.appendleft(item)
        else:
            self.queue.append(item)

    def _requeue(self, item: Queued) -> None:
        self.log.debug(
            f"rebuffering event {item.event.serial} for pool {self.name} "
            f"(buf size={len(self.queue)}, max={self.config.buffer_size})"
        )
        self._buffer(item, head=True)

    # --- dispatch ---------------------------------------------------------------------------

    def dispatch(self) -> None:
        """Send buffered events to READY listeners until one side runs out."""
        if self._dispatching:
            self._again = True  # called back from inside a write: finish in the outer loop
            return
        self._dispatching = True
        try:
            self._again = True
            while self._again:
                self._again = False
                while self.queue and self._backoff is None:
                    lst = self._first_ready()
                    if lst is None:
                        break
                    self._send(lst, self.queue.popleft())
        finally:
            self._dispatching = False
        if self._settle_waiters and self.settled():
            for fut in self._settle_waiters:
                if not fut.done():
                    fut.set_result(None)

    # --- shutdown -------------------------------------------------------------------------

    def settled(self) -> bool:
        """Nothing in flight, and nothing buffered that a listener could still take."""
        if any(lst.state == ListenerState.BUSY for lst in self._listeners):
            return False
        if not self.queue:
            return True
        return not any(
            lst.state != ListenerState.UNKNOWN
            and lst.proc.state in (ProcessState.STARTING, ProcessState.RUNNING)
            for lst in self._listeners
        )

    async def settle(self, timeout: float) -> None:
        """Before its listeners are stopped: let them take and answer what is buffered
        (SUPERVISOR_STATE_CHANGE_STOPPING, the last state changes), for at most `timeout`."""
        if self.settled():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._settle_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            self.log.warn(
                f"pool {self.name}: stopping its listeners with {len(self.queue)} "
                f"event(s) undelivered"
            )
        finally:
            self._settle_waiters.remove(fut)

    def _first_ready(self) -> Listener[P] | None:
        for lst in self._listeners:
            if lst.state == ListenerState.READY and lst.proc.state == ProcessState.RUNNING:
                return lst
        return None

    def _send(self, lst: Listener[P], item: Queued) -> None:
        event = item.event
        assert event.serial is not None
        data = wire.envelope(
            self.bus.identifier, event.serial, self.name, item.poolserial, event.name, event.body
        )
        lst.current = item
        self._set_state(lst, ListenerState.BUSY)
        try:
            lst.proc.write_stdin(data)
        except OSError:
            # Its stdin is gone, so it is on its way out; its exit will be reported to us.
            self.log.debug(
                f"epipe occurred while sending event {event.serial} to listener "
                f"{lst.proc.name}, listener state unchanged"
            )
            lst.current = None
            self._set_state(lst, ListenerState.ACKNOWLEDGED)
            self._requeue(item)
            return
        if self.log.is_enabled("debug"):
            self.log.debug(f"event {event.serial} sent to listener {lst.proc.name}")

    # --- what the listener says ------------------------------------------------------------

    def feed(self, proc: P, data: bytes) -> None:
        """Every chunk a listener writes to stdout, in order (the pump's on_data)."""
        lst = self._listener(proc)
        if lst.state == ListenerState.UNKNOWN or not data:
            return
        lst.inbox += data
        violated = self._parse(lst)
        if violated:
            self._violation(lst)
        self.dispatch()

    def _parse(self, lst: Listener[P]) -> bool:
        """Consume what can be consumed; True on a protocol violation."""
        buf = lst.inbox
        while buf:
            if lst.state == ListenerState.ACKNOWLEDGED:
                if buf.startswith(READY_TOKEN):
                    del buf[: len(READY_TOKEN)]
                    self._set_state(lst, ListenerState.READY)
                    self.dispatch()  # it may be BUSY now, and what follows is its result
                    continue
                return not READY_TOKEN.startswith(bytes(buf))  # a prefix: wait for more
            if lst.state == ListenerState.READY:
                return True  # nothing may be said while waiting for an event
            if lst.state != ListenerState.BUSY:
                return False
            if lst.result_len is None:
                end = buf.find(b"\n")
                if end < 0:
                    if len(buf) > MAX_RESULT_LINE or not _could_be_result(bytes(buf)):
                        return self._bad_result_line(lst, bytes(buf))
                    return False
                line = bytes(buf[:end])
                del buf[: end + 1]
                size = _result_size(line)
                if size is None:
                    return self._bad_result_line(lst, line)
                lst.result_len = size
            if len(buf) < lst.result_len:
                return False
            body = bytes(buf[: lst.result_len])
            del buf[: lst.result_len]
            lst.result_len = None
            if self._handle_result(lst, body):
                return True
        return False

    def _bad_result_line(self, lst: Listener[P], line: bytes) -> bool:
        self.log.warn(f"{lst.proc.name}: bad result line: '{wire.decode_data(line)}'")
        self._reject(lst)
        return True

    def _handle_result(self, lst: Listener[P], body: bytes) -> bool:
        """Apply the result handler; True when it failed in a way that breaks the listener."""
        item = lst.current
        assert item is not None
        name = lst.proc.name
        try:
            self._handler(item.event, body)
        except Exception as e:
            if type(e).__name__ == "RejectEvent":
                lst.violations = 0
                self.log.warn(f"{name}: event was rejected")
                self._set_state(lst, ListenerState.ACKNOWLEDGED)
                self._reject(lst)
                return False
            self.log.warn(f"{name}: event caused an error")
            self._reject(lst)
            return True
        if self.log.is_enabled("debug"):
            self.log.debug(f"{name}: event was processed")
        lst.current = None
        lst.violations = 0
        self._set_state(lst, ListenerState.ACKNOWLEDGED)
        self._delay = 0.0
        return False

    def _reject(self, lst: Listener[P]) -> None:
        """Put the listener's event back at the head of this pool and wait before resending."""
        item, lst.current = lst.current, None
        if item is None:
            return
        self._requeue(item)
        self._delay = BACKOFF_START if self._delay == 0 else min(self._delay * 2, BACKOFF_MAX)
        self._arm_backoff(self._delay)

    def _arm_backoff(self, delay: float) -> None:
        if self._backoff is not None:
            self._backoff.cancel()
        self._backoff = self._call_later(delay, self._backoff_over)

    def _call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        return loop.call_later(delay, callback)

    def _backoff_over(self) -> None:
        self._backoff = None
        self.dispatch()

    def _violation(self, lst: Listener[P]) -> None:
        if lst.current is not None:
            self._reject(lst)
        lst.inbox.clear()
        lst.result_len = None
        self._set_state(lst, ListenerState.UNKNOWN)
        self.log.warn(
            f"{lst.proc.name}: has entered the UNKNOWN state and will no longer "
            f"receive events, this usually indicates the process violated the "
            f"eventlistener protocol"
        )
        # Unlike 4.3 (deaf forever), start it afresh; a fresh spawn resets it to ACKNOWLEDGED.
        # Until then it stays deaf, as in 4.3.
        repeat = lst.violations
        lst.violations += 1
        if repeat == 0:
            self._restart_now(lst)
            return
        delay = min(RESTART_BACKOFF_START * 2 ** (repeat - 1), RESTART_BACKOFF_MAX)
        self.log.info(
            f"restarting event listener {lst.proc.name} in {delay:g} s after "
            f"{repeat + 1} protocol violations in a row"
        )
        self._cancel_restart(lst)
        lst.restart_timer = self._call_later(delay, lambda: self._restart_now(lst))

    def _restart_now(self, lst: Listener[P]) -> None:
        lst.restart_timer = None
        if lst.state != ListenerState.UNKNOWN:
            return  # restarted meanwhile by someone else
        if lst.proc.state in (ProcessState.STARTING, ProcessState.RUNNING):
            self.log.info(f"restarting event listener {lst.proc.name} after a protocol violation")
            self._restart(lst.proc)

    def _cancel_restart(self, lst: Listener[P]) -> None:
        if lst.restart_timer is not None:
            lst.restart_timer.cancel()
            lst.restart_timer = None

    def _set_state(self, lst: Listener[P], new: ListenerState) -> None:
        if lst.state != new:
            if self.log.is_enabled("debug"):
                self.log.debug(f"{lst.proc.name}: {lst.state.name} -> {new.name}")
            lst.state = new

    # --- the listener's process ----------------------------------------------------------

    def on_state_change(self, proc: P, old: ProcessState, new: ProcessState) -> None:
        """Called on every state change of a listener process in this pool."""
        lst = self._listener(proc)
        if new == ProcessState.STARTING:
            # A fresh process: it must say READY before it gets anything.
            self._cancel_restart(lst)
            self._lost(lst)
            lst.inbox.clear()
            lst.result_len = None
            lst.state = ListenerState.ACKNOWLEDGED
        elif new == ProcessState.RUNNING:
            self.dispatch()
        elif new != ProcessState.STOPPING:
            # Gone (EXITED, STOPPED, BACKOFF, FATAL, UNKNOWN): its event, if any, goes back.
            self._cancel_restart(lst)
            self._lost(lst)
            lst.inbox.clear()
            lst.result_len = None
            if lst.state != ListenerState.UNKNOWN:
                self._set_state(lst, ListenerState.ACKNOWLEDGED)
            self.dispatch()

    def _lost(self, lst: Listener[P]) -> None:
        item, lst.current = lst.current, None
        if item is not None:
            self._requeue(item)

    def reconfigure(self, config: EventListenerConfig) -> None:
        """update changed events, buffer_size or result_handler: the pool and its buffered
        events stay, the subscription and the handler are the new ones."""
        old, self.config = self.config, config
        if config.result_handler != old.result_handler:
            try:
                self._handler = resolve_result_handler(config.result_handler)
            except ValueError as e:
                self.log.error(f"pool {self.name}: {e}; using the default result handler")
                self._handler = default_handler
        if config.events != old.events and self._sub is not None:
            self._sub.cancel()
            self._sub = self.bus.subscribe(config.events, self.accept)
        while len(self.queue) > max(config.buffer_size, 0):
            dropped = self.queue.popleft()
            self.log.error(
                f"pool {self.name} event buffer overflowed, discarding event {dropped.event.serial}"
            )

    def close(self) -> None:
        """The pool's group is going away: stop receiving events and timers."""
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        if self._backoff is not None:
            self._backoff.cancel()
            self._backoff = None
        for lst in self._listeners:
            self._cancel_restart(lst)
        self.queue.clear()


def _could_be_result(partial: bytes) -> bool:
    """Could this line, once finished, still be `RESULT <digits>`?"""
    n = min(len(partial), len(RESULT_PREFIX))
    if partial[:n] != RESULT_PREFIX[:n]:
        return False
    rest = partial[len(RESULT_PREFIX) :].strip()
    return rest.isdigit() or not rest


def _result_size(line: bytes) -> int | None:
    if not line.startswith(RESULT_PREFIX):
        return None
    digits = line[len(RESULT_PREFIX) :].strip()
    if not digits.isdigit():
        return None
    return int(digits)
