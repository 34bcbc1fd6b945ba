"""Health: probes run while a process is RUNNING, and the sd_notify watchdog.

health_retries failed tries in a row make the process unhealthy, once per episode: the
machine then restarts it, stops it, or only reports it (health_action). One passing try
makes it healthy again. The probe task belongs to the RUNNING state (the process's Watch
cancels it when the state is left); the watchdog is a timer slot of RUNNING.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from corral.runtime.transitions import Ev, Timer
from corral.runtime.watch import Watch, run_probe
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.process import Process

_ACTION_WORDS = {"restart": "restarting", "stop": "stopping", "none": "no action taken"}


def start(proc: Process) -> None:
    """The WATCH_HEALTH action, on entering RUNNING."""
    watch = proc.watch
    if watch is None:
        return
    sv = proc.config.supervision
    if sv.watchdog_sec and not watch.watchdog_paused:
        proc.arm(Timer.WATCHDOG, sv.watchdog_sec)
    if sv.health_check is not None:
        tasks = proc.sup.lifecycle.tasks
        if tasks is not None:
            watch.health_task = tasks.spawn(_probe_loop(proc, watch), f"health {proc.name}")


async def _probe_loop(proc: Process, watch: Watch) -> None:
    while True:
        sv = proc.config.supervision  # read afresh: its tuning keys are live
        check = sv.health_check
        assert check is not None
        await asyncio.sleep(sv.health_interval)
        result = await run_probe(proc, check, sv.health_timeout)
        watch.health_detail = result.detail
        if result.ok:
            watch.failures = 0
            if watch.health == "unhealthy":
                proc.sup.log.info(f"healthy: {proc.name}: {check} {result.detail}")
            if watch.health != "healthy":
                watch.health = "healthy"
                proc.sup.health_changed(proc)
            continue
        watch.failures += 1
        if watch.failures >= sv.health_retries and watch.health != "unhealthy":
            watch.health = "unhealthy"
            proc.sup.health_changed(proc)
            proc.handle(Ev.UNHEALTHY)


def unhealthy_text(proc: Process) -> str:
    """The log line's text after 'unhealthy: '."""
    sv = proc.config.supervision
    watch = proc.watch
    assert watch is not None
    action = _ACTION_WORDS[sv.health_action]
    if watch.failures == 0:  # the watchdog, not a probe
        return f"{proc.name}: {watch.health_detail}; {action}"
    return (
        f"{proc.name}: {sv.health_check} {watch.health_detail} "
        f"({watch.failures} in a row); {action}"
    )


def note_watchdog(proc: Process) -> None:
    watch = proc.watch
    assert watch is not None
    watch.health = "unhealthy"
    proc.sup.health_changed(proc)
    watch.failures = 0
    watch.health_detail = f"no WATCHDOG=1 within {proc.config.supervision.watchdog_sec:g} s"


def restart(proc: Process) -> None:
    """A new health_check (update, live): the probe loop starts again with no result yet."""
    watch = proc.watch
    if watch is None:
        return
    if watch.health_task is not None:
        watch.health_task.cancel()
        watch.health_task = None
    watch.health, watch.health_detail, watch.failures = "unknown", "", 0
    tasks = proc.sup.lifecycle.tasks
    checked = proc.config.supervision.health_check is not None
    if proc.state == ProcessState.RUNNING and checked and tasks is not None:
        watch.health_task = tasks.spawn(_probe_loop(proc, watch), f"health {proc.name}")
