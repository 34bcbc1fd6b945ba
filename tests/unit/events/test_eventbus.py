"""EventBus: subscriptions by type (abstract types too), serials, state events, ticks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import pytest

from corral.runtime import eventbus
from corral.runtime.eventbus import Event, EventBus, TextEvent

from .conftest import LogFile


@dataclass
class _Conf:
    exitcodes: tuple[int, ...] = (0,)


@dataclass(eq=False)
class Proc:
    """The facts a Process exposes to events, nothing more."""

    name: str = "web"
    group: str = "web"
    pid: int = 0
    tries: int = 0
    exitstatus: int = 0
    config: _Conf = field(default_factory=_Conf)


def collect(bus: EventBus, *types: str) -> list[Event]:
    got: list[Event] = []
    bus.subscribe(types, got.append)
    return got


def test_abstract_subscription_gets_subtypes_only(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    got = collect(bus, "PROCESS_STATE")
    bus.publish(TextEvent("PROCESS_STATE_RUNNING", "x"))
    bus.publish(TextEvent("TICK_5", "when:0"))
    bus.publish(TextEvent("PROCESS_STATE_FATAL", "y"))
    assert [e.name for e in got] == ["PROCESS_STATE_RUNNING", "PROCESS_STATE_FATAL"]


def test_serial_is_global_from_0_and_only_for_events_someone_takes(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    a = collect(bus, "TICK_5")
    b = collect(bus, "PROCESS_GROUP")
    nobody = TextEvent("PROCESS_LOG_STDOUT", "x")
    bus.publish(nobody)
    bus.publish(TextEvent("TICK_5", ""))
    bus.publish(TextEvent("PROCESS_GROUP_ADDED", ""))
    bus.publish(TextEvent("TICK_5", ""))
    assert nobody.serial is None
    assert [e.serial for e in a] == [0, 2]
    assert [e.serial for e in b] == [1]
    assert bus.serial == 2


def test_serial_wraps_at_maxint() -> None:
    assert eventbus.next_serial(eventbus.MAXSERIAL) == 0
    assert eventbus.next_serial(-1) == 0


def test_has_subscribers_follows_subscribe_and_cancel(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    assert not bus.has_subscribers("PROCESS_LOG_STDOUT")
    sub = bus.subscribe(["PROCESS_LOG"], lambda e: None)
    assert bus.has_subscribers("PROCESS_LOG_STDOUT")
    assert bus.has_subscribers("PROCESS_LOG_STDERR")
    assert bus.has_subscribers("PROCESS_LOG")
    assert not bus.has_subscribers("PROCESS_COMMUNICATION_STDOUT")
    sub.cancel()
    assert not bus.has_subscribers("PROCESS_LOG_STDOUT")


def test_unknown_type_is_warned_and_matches_nothing(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    got = collect(bus, "PROCESS_STAT")
    bus.publish(TextEvent("PROCESS_STATE_RUNNING", ""))
    assert got == []
    assert "WARN ignoring unknown event type(s) PROCESS_STAT" in logfile.text()


def test_output_events_are_built_only_when_someone_listens(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    proc = Proc(pid=42)
    bus.publish_output(proc, "stdout", b"hi\n")
    assert bus.serial == -1
    got = collect(bus, "PROCESS_LOG_STDERR", "PROCESS_COMMUNICATION_STDOUT")
    bus.publish_output(proc, "stdout", b"ignored")
    bus.publish_output(proc, "stderr", b"oops\n")
    bus.publish_capture(proc, "stdout", b"body")
    assert [(e.name, e.payload) for e in got] == [
        ("PROCESS_LOG_STDERR", "processname:web groupname:web pid:42 channel:stderr\noops\n"),
        ("PROCESS_COMMUNICATION_STDOUT", "processname:web groupname:web pid:42\nbody"),
    ]


def test_remote_group_and_supervisor_events(logfile: LogFile) -> None:
    bus = EventBus("srv", logfile.log)
    got = collect(bus, "EVENT")
    bus.publish_remote("t", "d")
    bus.publish(eventbus.GroupChanged("g", True))
    bus.publish(eventbus.GroupChanged("g", False))
    bus.publish(eventbus.SupervisorStateChanged(True))
    bus.publish(eventbus.SupervisorStateChanged(False))
    assert [(e.name, e.payload) for e in got] == [
        ("REMOTE_COMMUNICATION", "type:t\nd"),
        ("PROCESS_GROUP_ADDED", "groupname:g\n"),
        ("PROCESS_GROUP_REMOVED", "groupname:g\n"),
        ("SUPERVISOR_STATE_CHANGE_RUNNING", ""),
        ("SUPERVISOR_STATE_CHANGE_STOPPING", ""),
    ]


# --- ticks --------------------------------------------------------------------------------


def test_no_tick_timer_without_a_tick_subscriber(logfile: LogFile) -> None:
    async def main() -> None:
        bus = EventBus("srv", logfile.log)
        bus.subscribe(["PROCESS_STATE"], lambda e: None)
        assert not any(bus.tick_armed(p) for p in (5, 60, 3600))
        sub = bus.subscribe(["TICK_60"], lambda e: None)
        assert [bus.tick_armed(p) for p in (5, 60, 3600)] == [False, True, False]
        sub.cancel()
        assert not bus.tick_armed(60)
        bus.subscribe(["EVENT"], lambda e: None)
        assert all(bus.tick_armed(p) for p in (5, 60, 3600))
        bus.close()
        assert not any(bus.tick_armed(p) for p in (5, 60, 3600))

    asyncio.run(main())


def test_tick_timer_is_due_on_the_next_period_boundary(logfile: LogFile) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        bus = EventBus("srv", logfile.log)
        bus.subscribe(["TICK"], lambda e: None)
        now, lnow = time.time(), loop.time()
        for period in (5, 60, 3600):
            handle = bus._ticks[period]
            boundary = (int(now) // period + 1) * period
            assert handle.when() - lnow == pytest.approx(boundary - now, abs=0.05)
        bus.close()

    asyncio.run(main())


def test_tick_fires_with_when_floored_and_rearms(logfile: LogFile) -> None:
    async def main() -> None:
        bus = EventBus("srv", logfile.log)
        got = collect(bus, "TICK_5")
        boundary = int(time.time()) // 5 * 5
        bus._ticks.pop(5).cancel()
        bus._ticks[5] = asyncio.get_running_loop().call_later(0, lambda: None)
        bus._tick(5, boundary)  # the boundary has just passed
        [ev] = got
        assert ev.name == "TICK_5"
        assert ev.payload in (f"when:{boundary}", f"when:{boundary + 5}")  # crossing one now
        assert bus._ticks[5].when() > asyncio.get_running_loop().time()
        bus.close()

    asyncio.run(main())
