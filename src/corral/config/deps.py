"""Checks of `depends_on` across the whole config: every name known, no cycle.

A name is a program (`[program:x]`, `[fcgi-program:x]`, `[eventlistener:x]`) or a
`[group:x]`, which stands for each of its programs. Errors point at the `depends_on` line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from corral.config.errors import ConfigError
from corral.config.ini import IniDoc
from corral.config.model import GroupConfig, GroupKind, ProcessConfig


def programs_named(name: str, groups: Sequence[GroupConfig]) -> tuple[str, ...]:
    """The program names a depends_on name stands for (empty when unknown)."""
    found: dict[str, None] = {}
    for g in groups:
        for p in g.processes:
            if p.program == name:
                found[p.program] = None
    if not found:
        for g in groups:
            if g.name == name and g.kind is GroupKind.HETEROGENEOUS:
                found.update(dict.fromkeys(p.program for p in g.processes))
    return tuple(found)


def _first_of_each_program(groups: Iterable[GroupConfig]) -> dict[str, ProcessConfig]:
    firsts: dict[str, ProcessConfig] = {}
    for g in groups:
        for p in g.processes:
            firsts.setdefault(p.program, p)
    return firsts


def check_dependencies(doc: IniDoc, groups: Sequence[GroupConfig]) -> None:
    firsts = _first_of_each_program(groups)
    edges: dict[str, list[str]] = {}

    def error(program: str, message: str) -> ConfigError:
        cfg = firsts[program]
        section = doc.sections.get(cfg.section)
        value = doc.get(section, "depends_on") if section is not None else None
        if value is not None:
            return ConfigError(message, file=value.file, line=value.line)
        if section is not None:
            return ConfigError(message, file=section.file, line=section.line)
        return ConfigError(message)

    for program, cfg in firsts.items():
        targets: list[str] = []
        for dep in cfg.supervision.depends_on:
            named = programs_named(dep.name, groups)
            if not named:
                raise error(
                    program,
                    f"[{cfg.section}] depends_on names {dep.name!r}, which is neither a "
                    "program nor a group",
                )
            targets += named
        edges[program] = targets

    cycle = _find_cycle(edges)
    if cycle:
        raise error(cycle[0], f"depends_on cycle: {' -> '.join(cycle)}")


def _find_cycle(edges: dict[str, list[str]]) -> list[str]:
    """One cycle as [a, b, ..., a], or [] (iterative DFS: configs may hold thousands)."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(edges, WHITE)
    for root in edges:
        if color[root] != WHITE:
            continue
        path: list[str] = [root]
        stack = [iter(edges[root])]
        color[root] = GREY
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                color[path.pop()] = BLACK
                continue
            if color.get(nxt, BLACK) == GREY:
                return [*path[path.index(nxt) :], nxt]
            if color.get(nxt) == WHITE:
                color[nxt] = GREY
                path.append(nxt)
                stack.append(iter(edges[nxt]))
    return []
