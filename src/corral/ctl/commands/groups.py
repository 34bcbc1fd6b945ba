"""avail, reread, add, remove: the config on disk versus the running groups (update is in
update.py)."""

from __future__ import annotations

from corral.ctl import client, exitcodes, render
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode


class GroupCommands(Base):
    def do_avail(self, arg: str) -> None:
        as_json, arg = self.json_flag(arg)
        if not self.no_args("avail", arg):
            return
        try:
            configs = self.server.getAllConfigInfo()
        except client.Fault as exc:
            if exc.faultCode != FaultCode.SHUTDOWN_STATE:
                raise
            self.usage_error("ERROR: supervisor shutting down", None)
            return
        if as_json:
            self.print_json(configs)
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
