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

if TYPE_CHECKING:
    from corral.runtime.process import Process as ProcessLike
    from corral.runtime.supervisor import Supervisor as SupervisorLike


def extended_info(proc: ProcessLike) -> dict[str, Any]:
    info: dict[str, Any] = dict(process_info(proc))
    info.update(proc.extended_info())
    return info


class CorralNamespace:
    def __init__(self, sup: SupervisorLike) -> None:
        self.sup = sup

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

    def methods(self) -> list[Method]:
        name = Param("name", "string")

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
        ]


__all__ = ["CorralNamespace", "extended_info"]
