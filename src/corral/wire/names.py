"""Namespecs: how clients name processes (`name`, `group:name`, `group:*`, `group:`)."""

from __future__ import annotations


def split_namespec(namespec: str) -> tuple[str, str | None]:
    """Return (group, process); process None means the whole group.

    `app` -> ("app", "app"); `grp:p` -> ("grp", "p"); `grp:*` and `grp:` -> ("grp", None).
    """
    group, sep, process = namespec.partition(":")
    if not sep:
        return namespec, namespec
    if process in ("", "*"):
        return group, None
    return group, process


def make_namespec(group: str, process: str) -> str:
    """Short form when the group is named after its only program, as Supervisor prints it."""
    return process if group == process else f"{group}:{process}"
