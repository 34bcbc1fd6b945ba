"""Carrying out `update`'s steps (runtime/plan.py) and `scale`: the least disruption.

A removed group is stopped and removed; a group-level change (socket, section kind) stops and
replaces the whole group; otherwise each process on its own: a live change is applied in
place (runtime/reconfigure.py), a change that needs a new process stops and starts only that
process (if it ran), a removed process is stopped and removed, a new one added and started as
configured. What the operator stopped stays stopped. All stops of one group go at once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.config.model import ConfigError, GroupKind
from corral.runtime import errors
from corral.runtime.eventbus import GroupChanged
from corral.runtime.group import FcgiSocketError
from corral.runtime.lifecycle import wait_stopped
from corral.runtime.plan import (
    ADD,
    APPLY,
    REMOVE,
    REPLACE,
    RESTART,
    START,
    STOP,
    UNCHANGED,
    Step,
    runs,
)
from corral.runtime.reconfigure import reconfigure, replace_config
from corral.runtime.transitions import Ev
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.group import Group
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor


@dataclass(frozen=True)
class Outcome:
    step: Step
    error: str = ""  # empty when the step was carried out


async def _stop_all(sup: Supervisor, procs: list[Process]) -> None:
    for proc in procs:
        if proc.state in (ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL):
            if proc.restart_pending:
                proc.handle(Ev.STOP)  # its delayed restart is off
            continue
        if proc.state != ProcessState.STOPPING:
            proc.handle(Ev.STOP)
    await wait_stopped(sup, procs, 2.0, "waiting for {} to stop")


def _drop(sup: Supervisor, group: Group, procs: list[Process]) -> None:
    """Stopped processes out of their group (update removed them, or scale)."""
    for proc in procs:
        group.remove(proc)
        sup.held.discard(proc.namespec)
        proc.close()


async def carry_out(sup: Supervisor, steps: list[Step]) -> list[Outcome]:
    """Do the steps, group by group, in their order; one outcome per step."""
    outcomes: list[Outcome] = []
    by_group: dict[str, list[Step]] = {}
    for step in steps:
        by_group.setdefault(step.group, []).append(step)
    for name, group_steps in by_group.items():
        first = group_steps[0]
        try:
            if first.action == REMOVE and not first.process:
                await _remove_group(sup, name)
            elif first.action == ADD and not first.process:
                await _add_group(sup, name)
            elif first.action == REPLACE:
                await _replace_group(sup, name)
            elif not (first.action == UNCHANGED and not first.process):
                await _change_group(sup, name, group_steps)
        except errors.RuntimeFault as e:
            outcomes += [Outcome(s, str(e) or type(e).__name__) for s in group_steps]
        else:
            outcomes += [Outcome(s) for s in group_steps]
    return outcomes


async def _remove_group(sup: Supervisor, name: str) -> None:
    group = sup.group(name)
    if group is None:
        raise errors.NoSuchProcess(name)
    await _stop_all(sup, list(group.processes))
    await sup.remove_group(name)


async def _add_group(sup: Supervisor, name: str) -> None:
    await sup.add_group(name)


async def _replace_group(sup: Supervisor, name: str) -> None:
    """The whole group again (what 4.3 does for any change); the operator's stops hold."""
    group = sup.group(name)
    gconf = sup.config.group(name)
    if group is None or gconf is None:
        raise errors.NoSuchProcess(name)
    await _stop_all(sup, list(group.processes))
    sup.deactivate(name)
    sup.events.publish(GroupChanged(name, False))
    try:
        new = sup.activate(gconf)
    except FcgiSocketError as e:
        raise errors.Failed(str(e)) from None
    sup.log.info(f"updated process group {name}")
    sup.events.publish(GroupChanged(name, True))
    await sup.spawner.autostart([new])


async def _change_group(sup: Supervisor, name: str, group_steps: list[Step]) -> None:
    group = sup.group(name)
    gconf = sup.config.group(name)
    if group is None or gconf is None:
        raise errors.NoSuchProcess(name)
    new_by_name = {p.name: p for p in gconf.processes}
    by_action: dict[str, list[Process]] = {}
    for step in group_steps:
        proc = group.process(step.process) if step.process else None
        if proc is not None:
            by_action.setdefault(step.action, []).append(proc)
    removed = by_action.get(STOP, [])
    restarted = [p for p in by_action.get(RESTART, []) if runs(p)]
    await _stop_all(sup, removed + restarted)
    _drop(sup, group, removed)
    changes = {s.process: s for s in group_steps if s.action in (APPLY, RESTART) and s.process}
    for pname, step in changes.items():
        proc = group.process(pname)
        if proc is None:
            continue
        if step.action == APPLY and not step.deferred:
            reconfigure(proc, new_by_name[pname], step.keys)
        else:
            replace_config(proc, new_by_name[pname], step.keys)
    for proc in group.processes:
        pconf = new_by_name.get(proc.name)
        if proc.name not in changes and pconf is not None and pconf != proc.config:
            reconfigure(proc, pconf, ())  # equal in every key (numprocs went up or down)
    added = []
    for step in group_steps:
        if step.action in (START, ADD) and step.process:
            proc = sup.new_process(name, new_by_name[step.process])
            group.add(proc)
            if step.action == START:
                added.append(proc)
    group.config = gconf
    group.sort()
    pool = sup.pools.get(name)
    if pool is not None and gconf.listener is not None:
        pool.reconfigure(gconf.listener)
    sup.deps.stale()
    sup.log.info(f"updated process group {name}")
    todo = [p for p in group.processes if p in restarted or p in added]
    await sup.spawner.start_in_order(todo)


async def scale_group(sup: Supervisor, name: str, count: int) -> list[Outcome]:
    """A program's process count at runtime: new processes are made from the program's
    section as last read (and started), the highest-numbered are stopped and removed, the
    others keep running untouched."""
    group = sup.group(name)
    if group is None:
        raise errors.NoSuchProcess(name)
    if group.config.kind not in (GroupKind.PROGRAM, GroupKind.FCGI):
        raise errors.BadArguments(f"{name} is not a program: only programs scale")
    if count < 1:
        raise errors.BadArguments(f"count must be 1 or more, not {count} (stop it to run none)")
    section = group.config.processes[0].section
    try:
        scaled = sup.read_config(numprocs={section: count})
    except ConfigError as e:
        raise errors.CantReread(str(e)) from None
    gnew = scaled.group(name)
    if gnew is None:
        raise errors.NoSuchProcess(name)
    # kept processes keep their running config (a file edited since is update's business)
    kept = {p.name: p.config for p in group.processes}
    target = dataclasses.replace(
        group.config, processes=tuple(kept.get(p.name, p) for p in gnew.processes)
    )
    why = f"scale {len(group.processes)} -> {count}"
    wanted = {p.name for p in target.processes}
    removed = [p for p in group.processes if p.name not in wanted]
    new = [p for p in target.processes if p.name not in kept]
    steps = [Step(name, p.name, STOP, why) for p in removed]
    steps += [Step(name, p.name, START, why) for p in new]
    await _stop_all(sup, removed)
    _drop(sup, group, removed)
    added = [sup.new_process(name, pconf) for pconf in new]
    for proc in added:
        group.add(proc)
    group.config = target
    group.sort()
    sup.deps.stale()
    if steps:
        sup.log.info(f"scaled {name} to {count}")
    # scale means run them: the new processes start whatever autostart says
    await sup.spawner.start_in_order([p for p in group.processes if p in added])
    return [Outcome(s) for s in steps]
