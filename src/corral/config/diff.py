"""Old config vs new config -> which groups to add, change (restart) or remove.

Groups are compared by name and by full `GroupConfig` equality; AUTO log paths stay the
literal AUTO in the model, so two reads of the same text compare equal. A pure function of
two configs: nothing here touches a running group.

The per-process, per-key plan is `plan.plan_update`, built on this: its `reload_plan` is
this module's answer. `corral.config` imports this module eagerly (its `diff` function
shadows the submodule), so it stays light: corralctl imports the package too.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from corral.config.model import Config


class ReloadPlan:
    """Group names, each tuple sorted: what `reloadConfig` reports and `update` applies."""

    __slots__ = ("added", "changed", "removed")

    def __init__(
        self,
        added: tuple[str, ...] = (),
        changed: tuple[str, ...] = (),
        removed: tuple[str, ...] = (),
    ) -> None:
        self.added = added
        self.changed = changed
        self.removed = removed

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReloadPlan):
            return NotImplemented
        return (self.added, self.changed, self.removed) == (
            other.added,
            other.changed,
            other.removed,
        )

    def __hash__(self) -> int:
        return hash((self.added, self.changed, self.removed))

    def __repr__(self) -> str:
        added, changed, removed = self.added, self.changed, self.removed
        return f"ReloadPlan({added=!r}, {changed=!r}, {removed=!r})"


def diff(old: Config, new: Config) -> ReloadPlan:
    before = {group.name: group for group in old.groups}
    after = {group.name: group for group in new.groups}
    return ReloadPlan(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(sorted(n for n in after.keys() & before.keys() if after[n] != before[n])),
        removed=tuple(sorted(before.keys() - after.keys())),
    )
