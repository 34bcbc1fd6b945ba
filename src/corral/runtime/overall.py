"""The daemon's overall health, for orchestrators: is every process that should be running
running (and healthy, where it has a health check)? One rule for `corralctl health`
(corral.health over XML-RPC) and `GET /readyz`.

A process should be running when the operator (or autostart) wants it up, or when it has
autostart and has not been started yet. A program the operator stopped, or one with
autostart=false never started, is not counted. A one-shot program that exited with an
expected code and will not be restarted has done its job: it counts as fine. A RUNNING
process whose health is not known yet counts as fine (RUNNING already means its ready_check
passed); one found unhealthy does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

S = ProcessState


@dataclass(frozen=True, slots=True)
class Problem:
    name: str  # the namespec
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class Overall:
    counted: int  # processes that should be running
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """What an anonymous caller is told: `ok` or a count."""
        if self.ok:
            return "ok"
        return f"not ready: {len(self.problems)} of {self.counted}"


def should_run(proc: Process) -> bool:
    if proc.wants_up:
        return True
    return proc.config.autostart and proc.state is S.STOPPED and not proc.laststart


def problem(proc: Process) -> str | None:
    """Why a process that should be running is not as it should be (None: it is)."""
    state = proc.state
    if state is S.RUNNING:
        watch = proc.watch
        if watch is not None and watch.health == "unhealthy":
            return f"unhealthy: {watch.health_detail}" if watch.health_detail else "unhealthy"
        return None
    if state is S.EXITED:
        if proc.exit_expected and not proc.restart_pending:
            return None  # a job that is done
        if proc.restart_pending:
            return f"{proc.exit_text}; restarting"
        return proc.exit_text or "exited"
    if state is S.STARTING:
        note = proc.starting_note()
        return f"starting ({note})" if note else "starting"
    if state is S.STOPPED:
        return "not started yet"
    if state in (S.BACKOFF, S.FATAL):
        return proc.spawnerr or state.name.lower()
    return state.name.lower()  # STOPPING, UNKNOWN


def overall(sup: Supervisor) -> Overall:
    counted = 0
    problems = []
    for proc in sup.processes():
        if not should_run(proc):
            continue
        counted += 1
        why = problem(proc)
        if why is not None:
            problems.append(Problem(proc.namespec, proc.state.name, why))
    return Overall(counted, tuple(problems))
