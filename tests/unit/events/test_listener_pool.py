"""ListenerPool: buffering, serials, the listener protocol, violations, rejection backoff.

The pool talks to the runtime's Process through three things (name, state, write_stdin);
`Listener` below is that surface, recording what would reach the child's stdin."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.config.model import EventListenerConfig
from corral.runtime.eventbus import EventBus, TextEvent
from corral.runtime.listeners import (
    ListenerPool,
    default_handler,
    resolve_result_handler,
)
from corral.wire.states import ListenerState as L
from corral.wire.states import ProcessState as S
from tests.support import VirtualClockLoop

from .conftest import LogFile

UNKNOWN_WARN = (
    "WARN {}: has entered the UNKNOWN state and will no longer receive events, "
    "this usually indicates the process violated the eventlistener protocol"
)


class Listener:
    def __init__(self, name: str, state: S = S.RUNNING) -> None:
        self.name = name
        self.state = state
        self.stdin = bytearray()
        self.broken = False
        self.sent_at: list[float] = []
        self.clock: Callable[[], float] = lambda: 0.0  # the pool's loop's, when it matters

    def write_stdin(self, data: bytes) -> None:
        if self.broken:
            raise BrokenPipeError("gone")
        self.stdin += data
        self.sent_at.append(self.clock())

    def take(self) -> list[tuple[dict[str, str], bytes]]:
        """The envelopes written so far (and forget them)."""
        out = []
        buf = bytes(self.stdin)
        self.stdin.clear()
        while buf:
            line, buf = buf.split(b"\n", 1)
            headers = dict(tok.split(":", 1) for tok in line.decode().split())
            n = int(headers["len"])
            out.append((headers, buf[:n]))
            buf = buf[n:]
        return out


def conf(
    events: tuple[str, ...] = ("EVENT",),
    buffer_size: int = 10,
    handler: str = "supervisor.dispatchers:default_handler",
) -> EventListenerConfig:
    return EventListenerConfig(events=events, buffer_size=buffer_size, result_handler=handler)


class World:
    def __init__(self, logfile: LogFile, loop: asyncio.AbstractEventLoop) -> None:
        self.logfile = logfile
        self.loop = loop
        self.bus = EventBus("srv", logfile.log)
        self.restarted: list[str] = []

    def pool(self, name: str, *procs: Listener, **kw: Any) -> ListenerPool[Listener]:
        return ListenerPool(
            name,
            conf(**kw),
            self.bus,
            self.logfile.log,
            procs,  # type: ignore[arg-type]
            restart=lambda p: self.restarted.append(p.name),
            loop=self.loop,
        )

    def publish(
        self, name: str = "PROCESS_GROUP_ADDED", payload: str = "groupname:g\n"
    ) -> TextEvent:
        ev = TextEvent(name, payload)
        self.bus.publish(ev)
        return ev


@pytest.fixture
def world(logfile: LogFile) -> Iterator[World]:
    # The pool arms its backoff timers on this loop; tests run it when time must pass. Its
    # clock is virtual: a wait of 0.5 s takes no time and lands exactly, on any machine.
    loop = VirtualClockLoop()
    yield World(logfile, loop)
    loop.close()


# --- delivery -------------------------------------------------------------------------------


def test_event_goes_to_a_ready_listener_with_the_exact_envelope(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    world.publish("TICK_5", "when:1795609445")
    assert a.stdin == b""  # not READY yet: buffered
    assert len(pool.queue) == 1
    pool.feed(a, b"READY\n")
    assert bytes(a.stdin) == (
        b"ver:3.0 server:srv serial:0 pool:rec poolserial:0 "
        b"eventname:TICK_5 len:15\nwhen:1795609445"
    )
    assert pool.listener_state(a) == L.BUSY
    pool.feed(a, b"RESULT 2\nOK")
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    assert pool.queue == type(pool.queue)()


def test_serial_is_global_and_poolserial_per_pool(world: World) -> None:
    a, b = Listener("a"), Listener("b")
    pa = world.pool("pa", a, events=("PROCESS_GROUP",))
    pb = world.pool("pb", b, events=("TICK_5",))
    world.publish("PROCESS_GROUP_ADDED")
    world.publish("TICK_5", "when:5")
    world.publish("PROCESS_GROUP_ADDED")
    world.publish("TICK_5", "when:10")
    for pool, proc in ((pa, a), (pb, b)):
        for _ in range(2):
            pool.feed(proc, b"READY\n")
            pool.feed(proc, b"RESULT 2\nOK")
    got_a = [(h["serial"], h["poolserial"]) for h, _ in a.take()]
    got_b = [(h["serial"], h["poolserial"]) for h, _ in b.take()]
    assert got_a == [("0", "0"), ("2", "1")]
    assert got_b == [("1", "0"), ("3", "1")]


def test_len_counts_bytes_for_non_ascii(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"READY\n")
    world.bus.publish_remote("t", "héllo ✓")
    [(headers, body)] = a.take()
    assert int(headers["len"]) == len("type:t\nhéllo ✓".encode()) == 17
    assert body.decode() == "type:t\nhéllo ✓"


def test_first_ready_running_listener_gets_it_not_round_robin(world: World) -> None:
    a, b, c = Listener("a", S.STARTING), Listener("b"), Listener("c")
    pool = world.pool("rec", a, b, c)
    for p in (a, b, c):
        pool.feed(p, b"READY\n")
    world.publish()
    assert (a.stdin, len(b.take()), c.stdin) == (b"", 1, b"")  # a is not RUNNING yet
    pool.feed(b, b"RESULT 2\nOK")
    pool.feed(b, b"READY\n")
    world.publish()
    assert len(b.take()) == 1 and c.stdin == b""


def test_becoming_running_dispatches_buffered_events_at_once(world: World) -> None:
    a = Listener("a", S.STARTING)
    pool = world.pool("rec", a)
    pool.feed(a, b"READY\n")
    world.publish()
    assert a.stdin == b""
    a.state = S.RUNNING
    pool.on_state_change(a, S.STARTING, S.RUNNING)
    assert len(a.take()) == 1


def test_buffer_overflow_drops_the_oldest_and_says_so(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a, buffer_size=3)
    evs = [world.publish() for _ in range(5)]
    assert [q.event.serial for q in pool.queue] == [2, 3, 4]
    text = world.logfile.text()
    assert "ERRO pool rec event buffer overflowed, discarding event 0" in text
    assert "ERRO pool rec event buffer overflowed, discarding event 1" in text
    assert "discarding event 2" not in text
    pool.feed(a, b"READY\n")
    [(headers, _)] = a.take()
    assert headers["serial"] == str(evs[2].serial)


# --- the parser -------------------------------------------------------------------------------

STREAM = b"READY\nRESULT 2\nOKREADY\nRESULT 4\nFAILREADY\nRESULT 2\nOK"


def drive(world: World, chunks: list[bytes]) -> tuple[ListenerPool, Listener]:
    a = Listener("a")
    pool = world.pool("rec", a, handler="tests.unit.events.handlers:Nested.accept_all")
    world.publish()
    world.publish()
    world.publish()
    for chunk in chunks:
        pool.feed(a, chunk)
    return pool, a


def test_parser_fed_byte_by_byte(world: World) -> None:
    pool, a = drive(world, [STREAM[i : i + 1] for i in range(len(STREAM))])
    assert len(a.take()) == 3
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    assert world.restarted == []
    assert "UNKNOWN" not in world.logfile.text()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_parser_in_any_chunking_gives_the_same_outcome(cuts: list[int]) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        loop = asyncio.new_event_loop()
        try:
            w = World(LogFile(Path(d) / "m.log"), loop)
            bounds = [0, *sorted(set(cuts)), len(STREAM)]
            chunks = [STREAM[i:j] for i, j in itertools.pairwise(bounds) if j > i]
            pool, a = drive(w, chunks)
            assert len(a.take()) == 3
            assert pool.listener_state(a) == L.ACKNOWLEDGED and w.restarted == []
        finally:
            loop.close()


def test_ready_prefix_waits_for_the_rest(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"REA")
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    pool.feed(a, b"DY")
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    pool.feed(a, b"\n")
    assert pool.listener_state(a) == L.READY


# --- violations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "extra_log"),
    [
        (b"HELLO\n", None),  # not READY while acknowledged
        (b"READY\nREADY\n", None),  # anything while READY
        (b"READY\nRESULT two\nOK", "WARN a: bad result line: 'RESULT two'"),
        (b"READY\nOK\n", "WARN a: bad result line: 'OK'"),
        (b"READY\nRESULT 2 and then some more text that is not a number", "bad result line"),
    ],
)
def test_violation_is_warned_then_the_listener_restarted(
    world: World, stream: bytes, extra_log: str | None
) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    world.publish()
    pool.feed(a, stream)
    assert pool.listener_state(a) == L.UNKNOWN
    assert world.restarted == ["a"]
    text = world.logfile.text()
    assert UNKNOWN_WARN.format("a") in text
    if extra_log:
        assert extra_log in text
    # the event it was holding (if any) is back in its pool; nothing more goes to it
    assert len(pool.queue) == 1
    a.stdin.clear()
    world.publish()
    assert a.stdin == b""


def test_a_fresh_spawn_after_restart_resets_the_protocol(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"junk!!")
    assert pool.listener_state(a) == L.UNKNOWN
    for old, new in ((S.RUNNING, S.STOPPING), (S.STOPPING, S.STOPPED), (S.STOPPED, S.STARTING)):
        a.state = new
        pool.on_state_change(a, old, new)
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    a.state = S.RUNNING
    pool.on_state_change(a, S.STARTING, S.RUNNING)
    world.publish()
    pool.feed(a, b"READY\n")
    assert len(a.take()) == 1


def test_handler_raising_other_exception_rejects_and_violates(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a, handler="tests.unit.events.handlers:explode")
    world.publish()
    pool.feed(a, b"READY\nRESULT 2\nOK")
    assert pool.listener_state(a) == L.UNKNOWN
    assert "WARN a: event caused an error" in world.logfile.text()
    assert world.restarted == ["a"] and len(pool.queue) == 1


def test_custom_handler_reject_event_by_name(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a, handler="tests.unit.events.handlers:reject_unless_yes")
    world.publish()
    pool.feed(a, b"READY\nRESULT 2\nOK")
    assert pool.listener_state(a) == L.ACKNOWLEDGED
    assert "WARN a: event was rejected" in world.logfile.text()
    assert len(pool.queue) == 1 and world.restarted == []


def test_result_handler_resolution() -> None:
    assert resolve_result_handler("supervisor.dispatchers:default_handler") is default_handler
    assert resolve_result_handler("") is default_handler
    h = resolve_result_handler("tests.unit.events.handlers:Nested.accept_all")
    assert h(TextEvent("X", ""), b"") is None
    for bad in (
        "nocolon",
        "no.such.module:f",
        "tests.unit.events.handlers:missing",
        "tests.unit.events.handlers:RejectEvent.args",
    ):
        with pytest.raises(ValueError):
            resolve_result_handler(bad)


def test_unloadable_handler_is_logged_and_the_default_used(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a, handler="no.such.module:f")
    assert "ERRO pool rec: cannot load result_handler 'no.such.module:f'" in (world.logfile.text())
    world.publish()
    pool.feed(a, b"READY\nRESULT 2\nOK")
    assert len(pool.queue) == 0


# --- dying and rejection ---------------------------------------------------------------------


def test_listener_dying_while_busy_gets_its_event_requeued(world: World) -> None:
    a, b = Listener("a"), Listener("b")
    pool = world.pool("rec", a, b)
    pool.feed(a, b"READY\n")
    ev = world.publish()
    assert len(a.take()) == 1
    a.state = S.EXITED
    pool.on_state_change(a, S.RUNNING, S.EXITED)
    assert [q.event for q in pool.queue] == [ev]
    pool.feed(b, b"READY\n")
    [(headers, _)] = b.take()
    assert headers["serial"] == str(ev.serial)


def test_broken_stdin_puts_the_event_back(world: World) -> None:
    a = Listener("a")
    a.broken = True
    pool = world.pool("rec", a)
    pool.feed(a, b"READY\n")
    world.publish()
    assert len(pool.queue) == 1
    assert pool.listener_state(a) == L.ACKNOWLEDGED


def test_rejection_is_redelivered_with_backoff_not_a_busy_loop(world: World) -> None:
    a = Listener("a")
    a.clock = world.loop.time
    pool = world.pool("rec", a)
    world.publish()

    async def fail_everything_for(seconds: float) -> None:
        end = world.loop.time() + seconds
        pool.feed(a, b"READY\n")
        while world.loop.time() < end:
            if pool.listener_state(a) == L.BUSY:
                pool.feed(a, b"RESULT 4\nFAIL")
                pool.feed(a, b"READY\n")
            await asyncio.sleep(0.005)

    world.loop.run_until_complete(fail_everything_for(2.0))
    # 0, +0.1, +0.2, +0.4, +0.8 -> 5 sends in 1.5 s, the next at 3.1 s: 4.3 sends thousands.
    # Each FAIL is answered at the next 5 ms poll, so a gap is its delay plus up to 5 ms.
    gaps = [t2 - t1 for t1, t2 in itertools.pairwise(a.sent_at)]
    assert len(gaps) == 4, a.sent_at
    for gap, delay in zip(gaps, (0.1, 0.2, 0.4, 0.8), strict=True):
        assert delay - 1e-9 <= gap <= delay + 0.006, gaps  # (sums of floats)


def test_backoff_resets_after_a_success(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    world.publish()
    world.publish()
    pool.feed(a, b"READY\nRESULT 4\nFAIL")
    assert pool.backing_off
    loop = world.loop
    pool.feed(a, b"READY\n")
    loop.run_until_complete(asyncio.sleep(0.15))
    assert pool.listener_state(a) == L.BUSY  # redelivered after 0.1 s
    pool.feed(a, b"RESULT 2\nOK")
    assert not pool.backing_off
    pool.feed(a, b"READY\n")
    assert pool.listener_state(a) == L.BUSY  # the next event goes out at once
    assert pool._delay == 0.0


def test_rejected_event_is_redelivered_only_in_its_own_pool(world: World) -> None:
    a, b = Listener("a"), Listener("b")
    pa = world.pool("pa", a, events=("PROCESS_GROUP",))
    pb = world.pool("pb", b, events=("PROCESS_GROUP",))
    world.publish()
    pa.feed(a, b"READY\nRESULT 4\nFAIL")
    pb.feed(b, b"READY\nRESULT 2\nOK")
    assert len(pa.queue) == 1
    assert len(pb.queue) == 0
    assert "overflow" not in world.logfile.text()


def test_close_unsubscribes(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a, events=("TICK_5",))
    assert world.bus.has_subscribers("TICK_5")
    pool.close()
    assert not world.bus.has_subscribers("TICK_5")
    world.bus.close()


def _respawn(pool: ListenerPool[Listener], a: Listener) -> None:
    for old, new in ((S.RUNNING, S.STOPPING), (S.STOPPING, S.STOPPED), (S.STOPPED, S.STARTING)):
        a.state = new
        pool.on_state_change(a, old, new)
    a.state = S.RUNNING
    pool.on_state_change(a, S.STARTING, S.RUNNING)


def test_a_listener_that_always_violates_is_restarted_with_growing_delays(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"banner\n")
    assert world.restarted == ["a"]  # the first restart is immediate
    _respawn(pool, a)
    pool.feed(a, b"banner\n")
    assert world.restarted == ["a"]  # the second waits 1 s, deaf meanwhile
    assert "restarting event listener a in 1 s after 2 protocol violations" in (
        world.logfile.text()
    )
    world.loop.run_until_complete(asyncio.sleep(0.5))
    assert world.restarted == ["a"]
    world.loop.run_until_complete(asyncio.sleep(0.6))
    assert world.restarted == ["a", "a"]
    _respawn(pool, a)
    pool.feed(a, b"banner\n")
    assert "in 2 s after 3 protocol violations" in world.logfile.text()


def test_a_completed_result_forgives_earlier_violations(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"banner\n")
    _respawn(pool, a)
    world.publish()
    pool.feed(a, b"READY\nRESULT 2\nOK")
    pool.feed(a, b"READY\nbanner\n")
    assert world.restarted == ["a", "a"]  # immediate again


def test_a_pending_restart_is_dropped_when_the_process_is_started_anew(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"x\n")
    _respawn(pool, a)
    pool.feed(a, b"x\n")  # restart due in 1 s
    _respawn(pool, a)  # the operator restarted it first
    world.loop.run_until_complete(asyncio.sleep(1.1))
    assert world.restarted == ["a"]
    assert pool.listener_state(a) == L.ACKNOWLEDGED


def test_settle_waits_for_the_listener_to_answer_what_it_holds(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"READY\n")
    world.publish("SUPERVISOR_STATE_CHANGE_STOPPING", "")
    assert pool.listener_state(a) == L.BUSY

    async def shutdown() -> float:
        world.loop.call_later(0.05, pool.feed, a, b"RESULT 2\nOK")
        start = world.loop.time()
        await pool.settle(5.0)
        return world.loop.time() - start

    waited = world.loop.run_until_complete(shutdown())
    assert waited == pytest.approx(0.05)  # until the answer, not a moment more
    assert pool.listener_state(a) == L.ACKNOWLEDGED and not pool.queue


def test_settle_gives_up_after_its_timeout_and_says_so(world: World) -> None:
    a = Listener("a")
    pool = world.pool("rec", a)
    pool.feed(a, b"READY\n")
    world.publish()
    world.publish()
    start = world.loop.time()
    world.loop.run_until_complete(pool.settle(0.1))
    assert world.loop.time() - start == pytest.approx(0.1)
    assert "WARN pool rec: stopping its listeners with 1 event(s) undelivered" in (
        world.logfile.text()
    )


def test_settle_does_not_wait_for_listeners_that_cannot_take_events(world: World) -> None:
    a = Listener("a", state=S.FATAL)
    pool = world.pool("rec", a)
    world.publish()
    assert pool.settled()
    start = world.loop.time()
    world.loop.run_until_complete(pool.settle(5.0))
    assert world.loop.time() == start  # no wait at all
