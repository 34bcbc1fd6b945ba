"""update (per key, with --plan and --json) and scale.

Against corrald, `update` is one call (`corral.update`): the daemon re-reads its config and
applies each change with the least disruption. The lines 4.3 prints stay (`x: added process
group`, `x: removed process group`, `x: stopped`, `x: updated process group`); what 4.3
cannot do gets lines of its own. Against a supervisord, update is 4.3's: changed groups are
stopped, removed and added again.
"""

from __future__ import annotations

from corral.ctl import client, exitcodes
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

Step = dict[str, "Any"]

# How one process step reads after it was done.
_DONE = {
    "restart": "restarted",
    "start": "started",
    "add": "added",
    "stop": "stopped and removed",
}


def plan_lines(steps: list[Step]) -> list[str]:
    """`name  action  reason`, in columns."""
    if not steps:
        return []
    width = max(len(s["name"]) for s in steps) + 2
    lines = []
    for s in steps:
        why = f"{s['reason']} ({s['note']})" if s["note"] else s["reason"]
        line = f"{s['name']:<{width}}{s['action']:<10}{why}"
        lines.append(line.rstrip())
    return lines


def _applied_line(name: str, steps: list[Step]) -> str:
    keys = ", ".join(steps[0]["keys"])
    return f"{name}: applied {keys} (no restart)"


def update_lines(steps: list[Step]) -> list[str]:
    """What was done, group by group, with 4.3's lines where 4.3 has one."""
    by_group: dict[str, list[Step]] = {}
    for step in steps:
        by_group.setdefault(step["group"], []).append(step)
    lines: list[str] = []
    for group, todo in by_group.items():
        first = todo[0]
        failed = [s for s in todo if s["error"]]
        if not first["process"] and first["action"] == "unchanged":
            continue
        if not first["process"] and first["action"] in ("remove", "add", "replace"):
            if failed:
                lines.append(f"{group}: ERROR ({failed[0]['error']})")
            elif first["action"] == "remove":
                lines += [f"{group}: stopped", f"{group}: removed process group"]
            elif first["action"] == "add":
                lines.append(f"{group}: added process group")
            else:
                lines += [f"{group}: stopped", f"{group}: updated process group"]
            continue
        if not failed and all(s["action"] == "restart" for s in todo):
            # every process restarted: what 4.3 does, said as 4.3 says it
            lines += [f"{group}: stopped", f"{group}: updated process group"]
            continue
        live = [s for s in todo if s["action"] == "apply" and not s["deferred"]]
        if live and all(s["keys"] == live[0]["keys"] for s in live) and len(live) > 1:
            lines.append(_applied_line(group, live))
            live_done = {id(s) for s in live}
        else:
            live_done = set()
        for s in todo:
            if id(s) in live_done or s["action"] == "unchanged":
                continue
            name = s["name"]
            if s["error"]:
                lines.append(f"{name}: ERROR ({s['error']})")
            elif s["action"] == "apply" and not s["deferred"]:
                lines.append(_applied_line(name, [s]))
            elif s["action"] == "apply":
                lines.append(f"{name}: updated {', '.join(s['keys'])} (not started)")
            else:
                lines.append(f"{name}: {_DONE[s['action']]} ({s['reason']})")
        lines.append(f"{group}: updated process group")
    return lines


class UpdateCommands(Base):
    def do_update(self, arg: str) -> None:
        words = arg.split()
        plan = "--plan" in words
        as_json = "--json" in words
        names = [w for w in words if not w.startswith("--")]
        unknown = [w for w in words if w.startswith("--") and w not in ("--plan", "--json")]
        if unknown or (as_json and not plan):
            self.usage_error(f"Error: bad update option {(unknown or ['--json'])[0]}", "update")
            return
        corral = self.proxy.corral
        try:
            steps = corral.plan(names) if plan else corral.update(names)
        except client.Fault as exc:
            if exc.faultCode == FaultCode.UNKNOWN_METHOD:
                if plan:
                    self.usage_error("ERROR: this server cannot plan (it is not corrald)", None)
                    return
                self._update_4_3(arg)  # a supervisord: 4.3's update
                return
            self.exitstatus = exitcodes.GENERIC
            if exc.faultCode == FaultCode.SHUTDOWN_STATE:
                self.output("ERROR: already shutting down")
            elif exc.faultCode == FaultCode.CANT_REREAD:
                self.output(f"ERROR: {exc.faultString}")
            else:
                raise
            return
        known = {s["group"] for s in steps}
        for name in sorted(set(names) - known - {"all"}):
            self.output(f"ERROR: no such group: {name}")
            self.exitstatus = exitcodes.GENERIC
        if plan and as_json:
            import json

            self.output(json.dumps(steps, indent=2))
        elif plan:
            for line in plan_lines(steps):
                self.output(line)
        else:
            for line in update_lines(steps):
                self.output(line)
            if any(s["error"] for s in steps):
                self.exitstatus = exitcodes.GENERIC

    def _update_4_3(self, arg: str) -> None:
        srv = self.server
        try:
            result = srv.reloadConfig()
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            if exc.faultCode != FaultCode.SHUTDOWN_STATE:
                raise
            self.output("ERROR: already shutting down")
            return
        added, changed, removed = result[0]
        wanted = set(arg.split())
        if "all" in wanted:
            wanted = set()
        if wanted:
            known = {info["group"] for info in srv.getAllProcessInfo()} | set(added)
            # Upstream iterates a set here; sorted keeps our output stable.
            for name in sorted(wanted - known):
                self.output(f"ERROR: no such group: {name}")
                self.exitstatus = exitcodes.GENERIC

        def selected(name: str) -> bool:
            return not wanted or name in wanted

        for name in filter(selected, removed):
            results = srv.stopProcessGroup(name)
            self.output(f"{name}: stopped")
            if any(r["status"] == FaultCode.FAILED for r in results):
                self.output(f"{name}: has problems; not removing")
                self.exitstatus = exitcodes.GENERIC
                continue
            srv.removeProcessGroup(name)
            self.output(f"{name}: removed process group")
        for name in filter(selected, changed):
            srv.stopProcessGroup(name)
            self.output(f"{name}: stopped")
            srv.removeProcessGroup(name)
            srv.addProcessGroup(name)
            self.output(f"{name}: updated process group")
        for name in filter(selected, added):
            srv.addProcessGroup(name)
            self.output(f"{name}: added process group")

    def do_scale(self, arg: str) -> None:
        words = arg.split()
        if len(words) != 2 or not words[1].isdigit():
            self.usage_error("Error: scale requires a program name and a count", "scale")
            return
        name, count = words[0], int(words[1])
        try:
            steps = self.proxy.corral.scale(name, count)
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            if exc.faultCode == FaultCode.UNKNOWN_METHOD:
                self.output("ERROR: this server cannot scale (it is not corrald)")
            elif exc.faultCode == FaultCode.BAD_NAME:
                self.output(f"ERROR: no such program: {name}")
            else:
                self.output(f"ERROR: {exc.faultString}")
            return
        for s in steps:
            if s["error"]:
                self.output(f"{s['name']}: ERROR ({s['error']})")
                self.exitstatus = exitcodes.GENERIC
            else:
                self.output(f"{s['name']}: {_DONE[s['action']]}")
        self.output(f"{name}: {count} process{'es' if count != 1 else ''}")
