"""Old config vs new config -> which groups to add, change (restart) or remove.

Groups are compared by name and by full `GroupConfig` equality; AUTO log paths stay the
literal AUTO in the model, so two reads of the same text compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.config.model import Config


@dataclass(frozen=True)
class ReloadPlan:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def diff(old: Config, new: Config) -> ReloadPlan:
    before = {group.name: group for group in old.groups}
    after = {group.name: group for group in new.groups}
    return ReloadPlan(
        added=tuple(sorted(after.keys() - before.keys())),
        changed=tuple(sorted(n for n in after.keys() & before.keys() if after[n] != before[n])),
        removed=tuple(sorted(before.keys() - after.keys())),
    )
