"""The state table's actions for readiness, health and dependencies (issue 9's rows), kept
apart from process.py, which carries out 4.3's. Each takes the process it acts on."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from corral.runtime import health, readiness
from corral.runtime.transitions import Act, StopReason, Timer

if TYPE_CHECKING:
    from corral.runtime.process import Process


def _note_not_ready(p: Process) -> None:
    assert p.watch is not None
    p.watch.stop_reason = StopReason.NOT_READY
    p.spawnerr = readiness.not_ready_text(p)


def _note_dep_failed(p: Process) -> None:
    assert p.watch is not None
    p.spawnerr = p.watch.dep_failure
    p.watch.waiting_for = ""


def _note_unhealthy(p: Process) -> None:
    from corral.runtime.process import Want

    assert p.watch is not None
    if p.config.supervision.health_action == "restart":
        p.watch.stop_reason = StopReason.UNHEALTHY
    else:
        p.want = Want.DOWN  # health_action = stop: it stays down until started


def _stop_waiting(p: Process) -> None:
    assert p.watch is not None
    p.watch.waiting_for = ""


def _count_restart(p: Process) -> None:
    p.restarts += 1


def _wait_deps(p: Process) -> None:
    p.sup.deps.wait(p)


def _arm_restart(p: Process) -> None:
    p.arm(Timer.RESTART, p.config.supervision.restart_delay)


def _log_not_ready(p: Process) -> None:
    p.sup.log.warn(f"not ready: {p.name}: {p.spawnerr}; stopping")


def _log_dep_failed(p: Process) -> None:
    p.sup.log.warn(f"gave up: {p.name} entered FATAL state, {p.spawnerr}")


def _log_unhealthy(p: Process) -> None:
    p.sup.log.warn(f"unhealthy: {health.unhealthy_text(p)}")


WATCH_ACTIONS: dict[Act, Callable[[Process], None]] = {
    Act.NOTE_NOT_READY: _note_not_ready,
    Act.NOTE_DEP_FAILED: _note_dep_failed,
    Act.NOTE_UNHEALTHY: _note_unhealthy,
    Act.NOTE_WATCHDOG: health.note_watchdog,
    Act.STOP_WAITING: _stop_waiting,
    Act.COUNT_RESTART: _count_restart,
    Act.WAIT_DEPS: _wait_deps,
    Act.WATCH_READY: readiness.start,
    Act.WATCH_HEALTH: health.start,
    Act.ARM_RESTART: _arm_restart,
    Act.LOG_NOT_READY: _log_not_ready,
    Act.LOG_DEP_FAILED: _log_dep_failed,
    Act.LOG_UNHEALTHY: _log_unhealthy,
}
