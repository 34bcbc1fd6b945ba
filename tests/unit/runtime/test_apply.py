"""Supervisor.update(): the steps of the plan, carried out by the daemon, per process."""

from __future__ import annotations

from pathlib import Path

from corral.runtime.plan import Step
from corral.runtime.transitions import Ev
from corral.wire.states import ProcessState as S

from .harness import Harness

BEFORE = """
[program:keep]
command=/bin/sleep 60
startsecs=0
[program:change]
command=/bin/sleep 60
startsecs=0
[program:gone]
command=/bin/sleep 60
startsecs=0
"""
AFTER = """
[program:keep]
command=/bin/sleep 60
startsecs=0
[program:change]
command=/bin/sleep 61
startsecs=0
[program:new]
command=/bin/sleep 60
startsecs=0
"""


def test_apply_removes_replaces_and_adds_groups(tmp_path: Path) -> None:
    h = Harness(tmp_path, BEFORE)
    got: dict[str, object] = {}

    async def scenario(h: Harness) -> None:
        sup = h.sup
        for name in ("keep", "change", "gone"):
            h.proc(name).handle(Ev.START)
        await h.until(lambda: all(p.state == S.RUNNING for p in sup.processes()), "RUNNING")
        keep_pid = h.proc("keep").pid
        old_change_pid = h.proc("change").pid
        h.write(AFTER)
        planned = sup.plan()
        outcomes = await sup.update()
        assert [o.step for o in outcomes] == planned
        got["results"] = [(o.step, o.error) for o in outcomes]
        assert [g.name for g in sup.groups()] == ["change", "keep", "new"]
        assert h.proc("keep").pid == keep_pid  # untouched
        change = h.proc("change")
        assert change.state == S.RUNNING and change.pid != old_change_pid
        assert change.config.command == "/bin/sleep 61"
        assert h.proc("new").state == S.RUNNING

    h.run(scenario)
    assert got["results"] == [
        (Step("gone", "", "remove", "section removed", note="running: will be stopped"), ""),
        (Step("change", "change", "restart", "command changed", ("command",)), ""),
        (Step("keep", "", "unchanged"), ""),
        (Step("new", "", "add", "section added"), ""),
    ]
    stopped = [e.process for e in h.events if e.new == S.STOPPED]
    assert stopped[:2] == ["gone", "change"]  # before the teardown stops the rest
