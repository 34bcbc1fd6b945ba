"""depends_on at run time: who waits for whom, when a wait is over, the stop order.

The config loader has already refused unknown names and cycles. Here each process with
depends_on gets its targets resolved to live processes, and a reverse index says whom to
tell when a target changes state, so a dependent spawns in the same loop iteration its
last dependency became ready. Nothing polls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from corral.config.deps import programs_named
from corral.config.supervision import Dependency
from corral.runtime.transitions import Ev
from corral.wire.states import RUNNING_STATES, STOPPED_STATES, ProcessState

if TYPE_CHECKING:
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

S = ProcessState
# a dependency in one of these is started when a dependent is (it is not on its way up)
_DOWN = (S.STOPPED, S.EXITED, S.FATAL, S.UNKNOWN)


def holds(dep: Dependency, target: Process) -> bool:
    """Is the condition met by this process of the dependency?"""
    if dep.condition == "ready":
        return target.state == S.RUNNING
    if dep.condition == "started":
        return target.state == S.RUNNING or (target.state == S.STARTING and target.pid != 0)
    return target.state == S.EXITED and target.exit_expected


def failure(dep: Dependency, target: Process) -> str:
    """Why this dependency can no longer be met ('' when it still can)."""
    if target.state == S.FATAL:
        return f"dependency {dep.name} failed (FATAL)"
    if dep.condition == "exited" and target.state == S.EXITED and not target.exit_expected:
        return f"dependency {dep.name} failed (exited {target.exitstatus})"
    return ""


class Dependencies:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        # dependent -> [(dependency, its processes)]
        self._needs: dict[Process, list[tuple[Dependency, list[Process]]]] = {}
        # process -> dependents of it
        self._dependents: dict[Process, list[Process]] = {}
        self._stale = True

    def stale(self) -> None:
        """The set of active processes changed: resolve again before the next use."""
        self._stale = True

    def _fresh(self) -> None:
        if self._stale:
            self._stale = False
            self._rebuild(self.sup.processes())

    def __bool__(self) -> bool:
        self._fresh()
        return bool(self._needs)

    def _rebuild(self, procs: Iterable[Process]) -> None:
        """Resolve every depends_on against the processes that are active now."""
        procs = list(procs)
        if not any(p.config.supervision.depends_on for p in procs):
            self._needs, self._dependents = {}, {}
            return
        by_program: dict[str, list[Process]] = {}
        for p in procs:
            by_program.setdefault(p.config.program, []).append(p)
        groups = [g.config for g in self.sup.groups()]
        self._needs = {}
        self._dependents = {}
        for p in procs:
            deps = p.config.supervision.depends_on
            if not deps:
                continue
            needs = []
            for dep in deps:
                targets = [
                    t for name in programs_named(dep.name, groups) for t in by_program.get(name, ())
                ]
                needs.append((dep, targets))
                for t in targets:
                    self._dependents.setdefault(t, []).append(p)
            self._needs[p] = needs

    def dependents(self, proc: Process) -> list[Process]:
        self._fresh()
        return self._dependents.get(proc, [])

    def _unmet(self, proc: Process) -> list[tuple[Dependency, list[Process]]]:
        self._fresh()
        return [
            (dep, targets)
            for dep, targets in self._needs.get(proc, ())
            if not all(holds(dep, t) for t in targets)
        ]

    def unmet(self, proc: Process) -> bool:
        return bool(self._unmet(proc))

    def _describe(self, proc: Process) -> str:
        return ", ".join(f"{dep.name} ({dep.condition})" for dep, _ in self._unmet(proc))

    def wait(self, proc: Process) -> None:
        """The WAIT_DEPS action: say what proc waits for, start what it needs that is down
        (also autostart=false programs), then see whether that was enough."""
        watch = proc.watch
        assert watch is not None
        watch.new_run()
        watch.waiting_for = self._describe(proc)
        self.sup.log.info(f"waiting: {proc.name} for {watch.waiting_for}")
        for dep, targets in self._unmet(proc):
            for t in targets:
                if t.state in _DOWN and not holds(dep, t):
                    t.handle(Ev.START)
        self.check(proc)

    def check(self, proc: Process) -> None:
        """Tell a waiting proc whether its wait is over, one way or the other."""
        watch = proc.watch
        if watch is None or not watch.waiting_for or proc.state != S.STARTING:
            return
        if self.sup.stopping:
            return
        self._fresh()
        for dep, targets in self._needs.get(proc, ()):
            for t in targets:
                why = failure(dep, t)
                if why:
                    watch.dep_failure = why
                    proc.handle(Ev.DEPS_FAILED)
                    return
        left = self._describe(proc)
        if left:
            watch.waiting_for = left
        else:
            proc.handle(Ev.DEPS_MET)

    def changed(self, target: Process) -> None:
        """target changed state (or got its pid): re-check those waiting for it."""
        self._fresh()
        for dependent in self._dependents.get(target, ()):
            self.check(dependent)

    # --- stopping ------------------------------------------------------------------------

    def stop_rounds(self, procs: list[Process]) -> list[list[Process]]:
        """procs in stop order: each round holds those none of whose dependents is still to
        be stopped; within that, the highest priority level goes first, as in 4.3."""
        left = {p: None for p in procs if p.state in RUNNING_STATES}
        rounds: list[list[Process]] = []
        level = self.sup.priority_level
        while left:
            free = [p for p in left if not any(d in left for d in self.dependents(p))]
            if not free:  # cannot happen (no cycles); stop the rest together anyway
                free = list(left)
            top = max(level(p) for p in free)
            batch = [p for p in free if level(p) == top]
            rounds.append(batch)
            for p in batch:
                del left[p]
        return rounds

    async def dependents_down(self, proc: Process) -> None:
        """Wait until every dependent of proc is stopped (stop all: dependents first)."""
        for d in self.dependents(proc):
            await d.wait_for(lambda q: q.state in STOPPED_STATES)
