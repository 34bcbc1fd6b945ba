"""The `corral.*` namespace: what corral knows beyond 4.3, in new methods of its own.

Each answer is 4.3's process dict, unchanged and in its order, followed by corral's keys:
a client that knows only Supervisor never calls these, and 4.3's methods keep their shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corral.api.describe import process_info
from corral.api.dispatch import Method, Param
from corral.runtime.errors import NoSuchProcess
from corral.runtime.overall import overall
from corral.runtime.plan import Step

if TYPE_CHECKING:
    from corral.runtime.process import Process as ProcessLike
    from corral.runtime.stats import CpuSampler
    from corral.runtime.supervisor import Supervisor as SupervisorLike


def extended_info(proc: ProcessLike) -> dict[str, Any]:
    info: dict[str, Any] = dict(process_info(proc))
    info.update(proc.extended_info())
    return info


def _names(names: list[Any] | None) -> set[str] | None:
    wanted = {str(n) for n in names or ()}
    return None if not wanted or "all" in wanted else wanted


def step_struct(step: Step, error: str = "") -> dict[str, Any]:
    return {
        "group": step.group,
        "process": step.process,
        "name": step.name,
        "action": step.action,
        "reason": step.reason,
        "note": step.note,
        "keys": list(step.keys),
        "deferred": step.deferred,
        "error": error,
    }


class CorralNamespace:
    def __init__(self, sup: SupervisorLike) -> None:
        self.sup = sup
        self._sampler: CpuSampler | None = None

    def get_process_info(self, name: str) -> dict[str, Any]:
        _, proc = self.sup.find(name)
        if proc is None:
            raise NoSuchProcess(name)
        return extended_info(proc)

    def get_all_process_info(self) -> list[dict[str, Any]]:
        procs = sorted(self.sup.processes(), key=lambda p: (p.group, p.name))
        return [extended_info(p) for p in procs]

    def health(self) -> dict[str, Any]:
        """ok, counted and, for each process that is not as it should be, why."""
        report = overall(self.sup)
        return {
            "ok": report.ok,
            "counted": report.counted,
            "problems": [
                {"name": p.name, "statename": p.state, "reason": p.reason} for p in report.problems
            ],
        }

    def get_exits(self, name: str) -> list[dict[str, Any]]:
        """The process's last exits (and stops, failed starts), oldest first."""
        _, proc = self.sup.find(name)
        if proc is None:
            raise NoSuchProcess(name)
        return [dict(e) for e in self.sup.exits.get(proc.namespec, ())]

    def get_stats(self) -> dict[str, list[float]]:
        """CPU % since the last call (by anyone) and resident bytes of every running child."""
        if self._sampler is None:
            from corral.runtime.stats import CpuSampler

            self._sampler = CpuSampler(self.sup)
        return self._sampler.sample()

    def plan(self, names: list[Any] | None = None) -> list[dict[str, Any]]:
        """What update would do, per process, changing nothing."""
        steps = [step_struct(step) for step in self.sup.plan(_names(names))]
        for step in steps:
            del step["error"]  # nothing was done
        return steps

    async def update(self, names: list[Any] | None = None) -> list[dict[str, Any]]:
        """reread + update, per process and key; each step with its outcome."""
        outcomes = await self.sup.update(_names(names))
        return [step_struct(o.step, o.error) for o in outcomes]

    async def scale(self, name: str, count: int) -> list[dict[str, Any]]:
        outcomes = await self.sup.scale(name, count)
        return [step_struct(o.step, o.error) for o in outcomes]

    def methods(self) -> list[Method]:
        name = Param("name", "string")
        groups = Param("names", "array", [])

        def m(
            short: str, func: Callable[..., Any], returns: str, help_: str, *params: Param
        ) -> Method:
            return Method(f"corral.{short}", func, returns, params, help_)

        return [
            m(
                "getProcessInfo",
                self.get_process_info,
                "struct",
                "Supervisor's process info for one process, plus readiness, health and "
                "dependency fields.\n@param string name\n@return struct",
                name,
            ),
            m(
                "getAllProcessInfo",
                self.get_all_process_info,
                "array",
                "getProcessInfo for every process.\n@return array",
            ),
            m(
                "health",
                self.health,
                "struct",
                "Whether every process that should be running is running (and healthy): "
                "ok, counted, and problems (name, statename, reason).\n@return struct",
            ),
            m(
                "getExits",
                self.get_exits,
                "array",
                "The last exits of a process, oldest first: time, state (EXITED, BACKOFF, "
                "FATAL, STOPPED), exitstatus, expected, why.\n@param string name\n@return array",
                name,
            ),
            m(
                "getStats",
                self.get_stats,
                "struct",
                "CPU % (since the last call) and resident memory bytes of every running "
                "child: namespec -> [cpu, rss].\n@return struct",
            ),
            m(
                "plan",
                self.plan,
                "array",
                "What update would do for the named groups (all when empty), reading the "
                "config file again and changing nothing: one struct per step (group, process, "
                "name, action, reason, keys).\n@param array names\n@return array",
                groups,
            ),
            m(
                "update",
                self.update,
                "array",
                "reloadConfig, then bring the named groups (all when empty) to the new config "
                "with the least disruption: live keys applied without a restart, only the "
                "affected processes restarted, added or removed, processes stopped by hand "
                "left stopped. One struct per step, as plan, plus error ('' when done)."
                "\n@param array names\n@return array",
                groups,
            ),
            m(
                "scale",
                self.scale,
                "array",
                "Run count processes of a program: the new ones are started, the "
                "highest-numbered stopped and removed, the others untouched. One struct per "
                "step.\n@param string name\n@param int count\n@return array",
                name,
                Param("count", "int"),
            ),
        ]


__all__ = ["CorralNamespace", "extended_info"]
