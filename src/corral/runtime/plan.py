"""What `update` will do, process by process: the config's per-key diff (`config.plan`) read
against the live state (what runs, what the operator stopped).

`steps` is the one classification: `corralctl update --plan` prints its steps and changes
nothing, `update` carries out the same steps (`runtime/update.py`), so the plan is what
happens. A step names one process (or a whole group), an action and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.config.model import Config, GroupConfig, GroupKind, ProcessConfig
from corral.config.plan import GroupDiff, KeyChange, ProcessDiff, group_diff, value_text
from corral.wire.names import make_namespec
from corral.wire.states import RUNNING_STATES

if TYPE_CHECKING:
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

# Actions, as the plan prints them.
ADD = "add"  # a new group, or a new process that will not be started (autostart=false)
REMOVE = "remove"  # a group that is no longer configured: stopped, then removed
REPLACE = "replace"  # a group-level change (socket, section kind): the whole group again
START = "start"  # a new process, started
STOP = "stop"  # a process no longer configured: stopped and removed
RESTART = "restart"  # a key that needs a new process, and the process runs
APPLY = "apply"  # taken without a restart (or the process is not running)
UNCHANGED = "unchanged"

# Values longer than this are named, not shown: `command changed`.
_SHOWN = 40


@dataclass(frozen=True)
class Step:
    group: str
    process: str  # '' for a step on the whole group
    action: str
    reason: str = ""
    keys: tuple[str, ...] = ()  # the changed keys (APPLY, RESTART)
    note: str = ""  # what the plan adds: 'running: will be stopped', 'stopped by hand...'
    deferred: bool = False  # APPLY to a stopped process, of keys that need a new process

    @property
    def explained(self) -> str:
        """The reason with the plan's note: `section removed (running: will be stopped)`."""
        return f"{self.reason} ({self.note})" if self.note else self.reason

    @property
    def name(self) -> str:
        """The name status shows: `web:web_02`, or `worker` for a group of one."""
        return make_namespec(self.group, self.process) if self.process else self.group


def _change_text(change: KeyChange) -> str:
    old, new = value_text(change.key, change.old), value_text(change.key, change.new)
    if len(old) > _SHOWN or len(new) > _SHOWN:
        return f"{change.key} changed"
    return f"{change.key} {old} -> {new}"


def changes_text(changes: tuple[KeyChange, ...]) -> str:
    return ", ".join(_change_text(c) for c in changes)


def _restart_text(changes: tuple[KeyChange, ...]) -> str:
    keys = [c.key for c in changes if not c.live]
    return ", ".join(keys) + " changed"


def runs(proc: Process) -> bool:
    """Up, or on its way up: a new process for it is started again after the change."""
    return proc.state in RUNNING_STATES or proc.restart_pending


def _count_text(old: GroupConfig, new: GroupConfig, proc: ProcessConfig) -> str:
    """Why a process came or went: its program's numprocs, or the group's members."""
    before = sum(1 for p in old.processes if p.program == proc.program)
    after = sum(1 for p in new.processes if p.program == proc.program)
    if before and after and before != after:
        return f"numprocs {before} -> {after}"
    return "added to the group" if after else "left the group"


def _group_steps(sup: Supervisor, old: GroupConfig, new: GroupConfig) -> list[Step]:
    gd: GroupDiff = group_diff(old, new)
    group = sup.group(new.name)
    name = new.name
    members_change = any(p.action != "changed" for p in gd.processes)
    if any(not c.live for c in gd.changes) or (
        members_change and new.kind is GroupKind.EVENTLISTENER
    ):
        # a listener pool's members are fixed when it is made: new members, a new pool
        running = group is not None and any(runs(p) for p in group.processes)
        note = "running: will be restarted" if running else ""
        keys = tuple(c.key for c in gd.changes)
        restart = any(not c.live for c in gd.changes)
        why = _restart_text(gd.changes) if restart else "listener pool members changed"
        return [Step(name, "", REPLACE, why, keys, note)]
    steps: list[Step] = []
    if gd.changes:  # live group keys (priority)
        steps.append(
            Step(name, "", APPLY, changes_text(gd.changes), tuple(c.key for c in gd.changes))
        )
    new_by_name = {p.name: p for p in new.processes}
    old_by_name = {p.name: p for p in old.processes}
    for pd in gd.processes:
        proc = group.process(pd.name) if group is not None else None
        steps.append(_process_step(sup, name, pd, proc, old, new, new_by_name, old_by_name))
    for pname in gd.unchanged:
        steps.append(Step(name, pname, UNCHANGED))
    order = {p.name: i for i, p in enumerate(new.processes)}
    steps.sort(key=lambda s: (s.process != "", order.get(s.process, len(order))))
    return steps


def _process_step(
    sup: Supervisor,
    group: str,
    pd: ProcessDiff,
    proc: Process | None,
    old: GroupConfig,
    new: GroupConfig,
    new_by_name: dict[str, ProcessConfig],
    old_by_name: dict[str, ProcessConfig],
) -> Step:
    if pd.action == "added":
        pconf = new_by_name[pd.name]
        why = _count_text(old, new, pconf)
        if pconf.autostart:
            return Step(group, pd.name, START, why)
        return Step(group, pd.name, ADD, why, note="autostart=false: not started")
    if pd.action == "removed":
        why = _count_text(old, new, old_by_name[pd.name])
        note = "running: will be stopped" if proc is not None and runs(proc) else ""
        return Step(group, pd.name, STOP, why, note=note)
    keys = pd.keys
    if pd.live:
        return Step(group, pd.name, APPLY, changes_text(pd.changes), keys)
    if proc is not None and runs(proc):
        return Step(group, pd.name, RESTART, _restart_text(pd.changes), keys)
    held = proc is not None and sup.is_held(proc)
    note = "stopped by hand: stays stopped" if held else "not running: taken at its next start"
    return Step(group, pd.name, APPLY, changes_text(pd.changes), keys, note, deferred=True)


def steps(sup: Supervisor, new: Config, names: set[str] | None = None) -> list[Step]:
    """Every step from the running groups to `new`, for the named groups (all when None):
    removed groups first, then changed, then added, each by name, as 4.3's update goes."""
    active = {g.name: g.config for g in sup.groups()}
    after = {g.name: g for g in new.groups}

    def wanted(name: str) -> bool:
        return names is None or name in names

    out: list[Step] = []
    for name in sorted(active.keys() - after.keys()):
        if wanted(name):
            group = sup.group(name)
            running = group is not None and any(runs(p) for p in group.processes)
            note = "running: will be stopped" if running else ""
            out.append(Step(name, "", REMOVE, "section removed", note=note))
    for name in sorted(active.keys() & after.keys()):
        if not wanted(name):
            continue
        if active[name] == after[name]:
            out.append(Step(name, "", UNCHANGED))
        else:
            out += _group_steps(sup, active[name], after[name])
    for name in sorted(after.keys() - active.keys()):
        if wanted(name):
            out.append(Step(name, "", ADD, "section added"))
    return out
