"""avail, reread, update, add, remove: the config on disk versus the running groups."""

from __future__ import annotations

from corral.ctl import client, exitcodes, render
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode


class GroupCommands(Base):
    def do_avail(self, arg: str) -> None:
        if not self.no_args("avail", arg):
            return
        try:
            configs = self.server.getAllConfigInfo()
        except client.Fault as exc:
            if exc.faultCode != FaultCode.SHUTDOWN_STATE:
                raise
            self.usage_error("ERROR: supervisor shutting down", None)
            return
        for line in render.avail_lines(configs):
            self.output(line)

    def do_reread(self, arg: str) -> None:
        if not self.no_args("reread", arg):
            return
        try:
            result = self.server.reloadConfig()
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            if exc.faultCode == FaultCode.SHUTDOWN_STATE:
                self.output("ERROR: supervisor shutting down")
            elif exc.faultCode == FaultCode.CANT_REREAD:
                self.output(f"ERROR: {exc.faultString}")
            else:
                raise
            return
        added, changed, removed = result[0]
        for line in render.change_lines(added, changed, removed):
            self.output(line)

    def do_update(self, arg: str) -> None:
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

    def do_add(self, arg: str) -> None:
        for name in arg.split():
            try:
                self.server.addProcessGroup(name)
            except client.Fault as exc:
                code = exc.faultCode
                if code == FaultCode.SHUTDOWN_STATE:
                    self.usage_error("ERROR: shutting down", None)
                elif code == FaultCode.ALREADY_ADDED:
                    self.output("ERROR: process group already active")
                elif code == FaultCode.BAD_NAME:
                    self.usage_error(f"ERROR: no such process/group: {name}", None)
                else:
                    self.exitstatus = exitcodes.GENERIC
                    raise
            else:
                self.output(f"{name}: added process group")

    def do_remove(self, arg: str) -> None:
        for name in arg.split():
            try:
                self.server.removeProcessGroup(name)
            except client.Fault as exc:
                code = exc.faultCode
                if code == FaultCode.STILL_RUNNING:
                    self.usage_error(f"ERROR: process/group still running: {name}", None)
                elif code == FaultCode.BAD_NAME:
                    self.usage_error(f"ERROR: no such process/group: {name}", None)
                else:
                    self.exitstatus = exitcodes.GENERIC
                    raise
            else:
                self.output(f"{name}: removed process group")
