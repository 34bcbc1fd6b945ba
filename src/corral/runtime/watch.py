"""What corral watches about one process beyond 4.3: readiness, health, dependencies.

A `Watch` exists only for processes whose section uses corral's own keys (ready_check,
depends_on, health_check, watchdog_sec...), so a 4.3 config pays one None per process.
It holds the facts the API reports and the live resources of one run (the notify socket,
the fd pipe, output taps, probe tasks); each resource belongs to a state or to the child,
and is released when the process leaves that state or the child is reaped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corral.config.checks import Check
from corral.runtime.probes import ProbeResult, probe_exec, probe_http, probe_tcp
from corral.runtime.spawn import SpawnFailure
from corral.runtime.transitions import StopReason
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.notify import NotifySocket
    from corral.runtime.process import Process

S = ProcessState


class Watch:
    __slots__ = (
        "dep_failure",
        "failures",
        "fd_read",
        "health",
        "health_detail",
        "health_task",
        "notify",
        "notify_status",
        "probe_task",
        "ready",
        "ready_detail",
        "stop_reason",
        "taps",
        "waiting_for",
        "watchdog_paused",
    )

    def __init__(self) -> None:
        self.ready = False  # the ready_check passed in this run
        self.ready_detail = ""  # why it has not passed yet (last probe result...)
        self.health = "unknown"  # healthy | unhealthy | unknown (no result yet in this run)
        self.health_detail = ""
        self.failures = 0  # failed health probes in a row
        self.notify_status = ""  # the last STATUS= received
        self.waiting_for = ""  # 'db (ready)' while STARTING without a child
        self.dep_failure = ""  # 'dependency migrate failed (exited 3)', set by the tracker
        self.stop_reason = StopReason.NONE
        self.watchdog_paused = False  # STOPPING=1 received: the program is on its way out
        self.notify: NotifySocket | None = None
        self.fd_read: int | None = None  # our end of the fd:N pipe
        self.taps: list[Callable[[], None]] = []  # removers of output taps (log:REGEX)
        self.probe_task: asyncio.Task[Any] | None = None
        self.health_task: asyncio.Task[Any] | None = None

    def new_run(self) -> None:
        """A spawn is about to happen: forget the last run's results."""
        self.ready = False
        self.ready_detail = ""
        self.health = "unknown"
        self.health_detail = ""
        self.failures = 0
        self.notify_status = ""
        self.waiting_for = ""
        self.stop_reason = StopReason.NONE
        self.watchdog_paused = False

    def left(self, old: ProcessState) -> None:
        """Release what belonged to the state just left."""
        if old == S.STARTING:
            self._stop_ready_sources()
        elif old == S.RUNNING and self.health_task is not None:
            self.health_task.cancel()
            self.health_task = None

    def _stop_ready_sources(self) -> None:
        if self.probe_task is not None:
            self.probe_task.cancel()
            self.probe_task = None
        for remove in self.taps:
            remove()
        self.taps = []
        if self.fd_read is not None:
            fd, self.fd_read = self.fd_read, None
            try:
                asyncio.get_running_loop().remove_reader(fd)
            except RuntimeError:
                pass  # no loop any more: the daemon is ending
            os.close(fd)

    def child_gone(self) -> None:
        """The child was reaped (or never spawned): nothing of its run stays open."""
        self._stop_ready_sources()
        if self.health_task is not None:
            self.health_task.cancel()
            self.health_task = None
        if self.notify is not None:
            self.notify.close()
            self.notify = None


def extended_info(proc: Process) -> dict[str, Any]:
    """corral's fields of corral.getProcessInfo, in their documented order."""
    sv = proc.config.supervision
    watch = proc.watch
    running = proc.state == S.RUNNING
    if sv.health_check is None and not sv.watchdog_sec:
        health = "none"
    elif watch is None or not running:
        health = "unknown"
    else:
        health = watch.health
    return {
        "ready_check": str(sv.ready_check or ""),
        "ready": watch.ready and running if watch is not None and sv.ready_check else running,
        "health": health,
        "health_detail": watch.health_detail if watch is not None else "",
        "notify_status": watch.notify_status if watch is not None else "",
        "depends_on": [str(d) for d in sv.depends_on],
        "waiting_for": watch.waiting_for if watch is not None else "",
        "restarts": proc.restarts,
    }


def starting_note(proc: Process) -> str:
    """What `status` shows for a STARTING process: what it waits for, or its STATUS=."""
    watch = proc.watch
    if watch is None or proc.state != S.STARTING:
        return ""
    if watch.waiting_for:
        return f"waiting for {watch.waiting_for}"
    return watch.notify_status


async def run_probe(proc: Process, check: Check, timeout: float) -> ProbeResult:
    """One try of a tcp, http(s) or exec check for proc."""
    if check.kind == "tcp":
        return await probe_tcp(check.host, check.port, timeout)
    if check.kind in ("http", "https"):
        return await probe_http(check.url, timeout)
    if check.kind == "exec":
        sup = proc.sup
        try:
            env = sup.child_env(proc)
        except SpawnFailure as e:  # its environment_file went bad since the spawn
            return ProbeResult(False, e.message)
        return await probe_exec(
            check.command,
            proc.config,
            env,
            identity=sup.spawner.identity(proc.config.uid),
            reaper=sup.reaper,
            timeout=timeout,
        )
    raise ValueError(f"{check.kind} is not a probe")
