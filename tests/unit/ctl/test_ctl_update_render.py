"""corralctl's update and plan text from corral.update / corral.plan steps."""

from __future__ import annotations

from typing import Any

import pytest

from corral.ctl.commands.update import plan_lines, update_lines


def step(group: str, process: str, action: str, reason: str = "", **kw: Any) -> dict[str, Any]:
    name = process if process == group or not process else f"{group}:{process}"
    return {
        "group": group,
        "process": process,
        "name": name or group,
        "action": action,
        "reason": reason,
        "note": kw.get("note", ""),
        "keys": kw.get("keys", []),
        "deferred": kw.get("deferred", False),
        "error": kw.get("error", ""),
    }


def test_plan_lines_are_columns_with_the_note() -> None:
    assert plan_lines(
        [
            step("old", "", "remove", "section removed", note="running: will be stopped"),
            step("web", "web_02", "restart", "command changed"),
            step("db", "", "unchanged"),
        ]
    ) == [
        "old         remove    section removed (running: will be stopped)",
        "web:web_02  restart   command changed",
        "db          unchanged",
    ]
    assert plan_lines([]) == []


ROWS = [
    # 4.3's lines where corral does what 4.3 does
    ([step("a", "", "add", "section added")], ["a: added process group"]),
    (
        [step("a", "", "remove", "section removed")],
        ["a: stopped", "a: removed process group"],
    ),
    (
        [step("f", "", "replace", "socket changed")],
        ["f: stopped", "f: updated process group"],
    ),
    (
        [step("app", "app", "restart", "command changed", keys=["command"])],
        ["app: stopped", "app: updated process group"],
    ),
    ([step("db", "", "unchanged")], []),
    # corral's own lines for what 4.3 cannot do
    (
        [
            step("w", "w_0", "apply", "x", keys=["autorestart"]),
            step("w", "w_1", "apply", "x", keys=["autorestart"]),
        ],
        ["w: applied autorestart (no restart)", "w: updated process group"],
    ),
    (
        [
            step("w", "w_0", "restart", "command changed", keys=["command"]),
            step("w", "w_1", "unchanged"),
            step("w", "w_2", "start", "numprocs 2 -> 3"),
            step("w", "w_3", "stop", "numprocs 4 -> 3", note="running: will be stopped"),
            step("w", "w_4", "add", "numprocs 4 -> 5", note="autostart=false: not started"),
        ],
        [
            "w:w_0: restarted (command changed)",
            "w:w_2: started (numprocs 2 -> 3)",
            "w:w_3: stopped and removed (numprocs 4 -> 3)",
            "w:w_4: added (numprocs 4 -> 5)",
            "w: updated process group",
        ],
    ),
    (
        [step("db", "db", "apply", "command a -> b", keys=["command"], deferred=True)],
        ["db: updated command (not started)", "db: updated process group"],
    ),
    (
        [step("g", "", "apply", "priority 999 -> 5", keys=["priority"])],
        ["g: applied priority (no restart)", "g: updated process group"],
    ),
    (
        [step("a", "a", "restart", "command changed", error="SPAWN_ERROR: a")],
        ["a: ERROR (SPAWN_ERROR: a)", "a: updated process group"],
    ),
]


@pytest.mark.parametrize(("steps", "lines"), ROWS)
def test_update_lines(steps: list[dict[str, Any]], lines: list[str]) -> None:
    assert update_lines(steps) == lines
