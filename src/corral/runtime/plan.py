"""Applying a config plan to the running daemon: the seam `update` goes through.

A `Plan` is what `config.diff` computed between the active config and the one read last;
`apply_plan` carries it out the way Supervisor's `update` does today (a removed group is
stopped and removed, a changed one stopped, removed and added again, a new one added), one
result per group so a client can print 4.3's lines. Per-key changes plug in here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.config.diff import ReloadPlan
from corral.runtime import errors

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor

Plan = ReloadPlan


@dataclass(frozen=True)
class PlanResult:
    group: str
    action: str  # 'removed' | 'updated' | 'added'
    error: str | None = None


async def apply_plan(sup: Supervisor, plan: Plan) -> list[PlanResult]:
    results: list[PlanResult] = []

    async def replace(name: str, action: str, *, remove: bool, add: bool) -> None:
        try:
            if remove:
                await sup.stop_group(name)
                await sup.remove_group(name)
            if add:
                await sup.add_group(name)
        except errors.RuntimeFault as e:
            results.append(PlanResult(name, action, str(e)))
        else:
            results.append(PlanResult(name, action))

    for name in plan.removed:
        await replace(name, "removed", remove=True, add=False)
    for name in plan.changed:
        await replace(name, "updated", remove=True, add=True)
    for name in plan.added:
        await replace(name, "added", remove=False, add=True)
    return results
