"""status, start, stop, restart, signal, pid, clear: commands that name processes."""

from __future__ import annotations

from corral.ctl import client, exitcodes, render
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode
from corral.wire.names import make_namespec, split_namespec
from corral.wire.states import STOPPED_STATES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class ProcessCommands(Base):
    def do_status(self, arg: str) -> None:
        if not self.upcheck():
            # status reports "cannot tell" whatever the reason.
            self.exitstatus = exitcodes.UNKNOWN_STATUS
            return
        infos = self.server.getAllProcessInfo()
        names = arg.split()
        if not names or "all" in names:
            matching = list(infos)
        else:
            matching = []
            for name in names:
                group, process = split_namespec(name)
                found = [
                    info
                    for info in infos
                    if info["group"] == group and (process is None or info["name"] == process)
                ]
                if not found:
                    what = (
                        f"{group}: ERROR (no such group)"
                        if process is None
                        else (f"{name}: ERROR (no such process)")
                    )
                    self.output(what)
                    self.exitstatus = exitcodes.UNKNOWN_STATUS
                matching.extend(found)
        for line in render.status_lines(matching):
            self.output(line)
        if any(info["state"] in STOPPED_STATES for info in matching):
            self.exitstatus = exitcodes.NOT_RUNNING_STATUS

    # -- start / stop / signal share one shape: all, group:*, or single names -------------
    def _each_target(
        self,
        names: list[str],
        call_all: Callable[[], list[dict[str, Any]]],
        call_group: Callable[[str], list[dict[str, Any]]],
        call_one: Callable[[str], Any],
        render_result: Callable[[dict[str, Any]], str],
        success_word: str,
        ignored: int | None,
        bad_group_code: int,
    ) -> None:
        if "all" in names:
            for result in call_all():
                self.output(render_result(result))
                self.exit_from_result(result["status"], ignored)
            return
        for name in names:
            group, process = split_namespec(name)
            if process is None:
                try:
                    results = call_group(group)
                except client.Fault as exc:
                    if exc.faultCode != FaultCode.BAD_NAME:
                        self.exitstatus = exitcodes.GENERIC
                        raise
                    self.output(f"{group}: ERROR (no such group)")
                    self.exitstatus = bad_group_code
                    continue
                for result in results:
                    self.output(render_result(result))
                    self.exit_from_result(result["status"], ignored)
                continue
            try:
                call_one(name)
            except client.Fault as exc:
                result = render.fault_result(name, exc.faultCode, exc.faultString)
                self.output(render_result(result))
                self.exit_from_result(exc.faultCode, ignored)
            else:
                self.output(f"{make_namespec(group, process)}: {success_word}")

    def do_start(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.usage_error(
                "Error: start requires a process name", "start", exitcodes.INVALID_ARGS
            )
            return
        srv = self.server
        self._each_target(
            names,
            srv.startAllProcesses,
            srv.startProcessGroup,
            srv.startProcess,
            render.start_result,
            "started",
            FaultCode.ALREADY_STARTED,
            exitcodes.INVALID_ARGS,
        )

    def do_stop(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.usage_error("Error: stop requires a process name", "stop")
            return
        srv = self.server
        self._each_target(
            names,
            srv.stopAllProcesses,
            srv.stopProcessGroup,
            srv.stopProcess,
            render.stop_result,
            "stopped",
            FaultCode.NOT_RUNNING,
            exitcodes.GENERIC,
        )

    def do_restart(self, arg: str) -> None:
        if not self.upcheck():
            return
        if not arg.split():
            self.usage_error("Error: restart requires a process name", "restart")
            return
        self.do_stop(arg)
        self.do_start(arg)

    def do_signal(self, arg: str) -> None:
        if not self.upcheck():
            return
        args = arg.split()
        if len(args) < 2:
            self.usage_error("Error: signal requires a signal name and a process name", "signal")
            return
        sig, names = args[0], args[1:]
        srv = self.server
        self._each_target(
            names,
            lambda: srv.signalAllProcesses(sig),
            lambda group: srv.signalProcessGroup(group, sig),
            lambda name: srv.signalProcess(name, sig),
            render.signal_result,
            "signalled",
            None,
            exitcodes.GENERIC,
        )

    def do_pid(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        srv = self.server
        if not names:
            self.output(str(srv.getPID()))
            return
        if "all" in names:
            for info in srv.getAllProcessInfo():
                self.output(str(info["pid"]))
            return
        for name in names:
            try:
                info = srv.getProcessInfo(name)
            except client.Fault as exc:
                self.exitstatus = exitcodes.GENERIC
                if exc.faultCode != FaultCode.BAD_NAME:
                    raise
                self.output(f"No such process {name}")
                continue
            self.output(str(info["pid"]))
            if info["pid"] == 0:
                self.exitstatus = exitcodes.NOT_RUNNING

    def do_clear(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.usage_error("Error: clear requires a process name", "clear")
            return
        srv = self.server
        if "all" in names:
            for result in srv.clearAllProcessLogs():
                self.output(render.clear_result(result))
                self.exit_from_result(result["status"])
            return
        for name in names:
            try:
                srv.clearProcessLogs(name)
            except client.Fault as exc:
                result = render.fault_result(name, exc.faultCode, exc.faultString)
                self.output(render.clear_result(result))
                self.exit_from_result(exc.faultCode)
            else:
                # Upstream echoes the name as typed here, not the namespec.
                self.output(f"{name}: cleared")
