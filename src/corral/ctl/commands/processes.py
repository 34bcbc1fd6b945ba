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
        as_json, arg = self.json_flag(arg)
        if not self.upcheck():
            # status reports "cannot tell" whatever the reason.
            self.exitstatus = exitcodes.UNKNOWN_STATUS
            return
        infos = self.all_infos(extended=as_json)
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
        if as_json:
            self.print_json(matching)
        else:
            for line in render.status_lines(matching):
                self.output(line)
        if any(info["state"] in STOPPED_STATES for info in matching):
            self.exitstatus = exitcodes.NOT_RUNNING_STATUS

    # -- start / stop / signal share one shape: all, group:*, or single names -------------
    def _each_target(
        self,
        names: list[str],
        method: str,  # 'start', 'stop' or 'signal': startAllProcesses, startProcessGroup...
        args: tuple[Any, ...],
        render_result: Callable[[dict[str, Any]], str],
        success_word: str,
        ignored: int | None,
        bad_group_code: int,
    ) -> None:
        if "all" in names:
            for result in getattr(self.server, f"{method}AllProcesses")(*args):
                self.output(render_result(result))
                self.exit_from_result(result["status"], ignored)
            return

        def one(srv: Any, name: str) -> list[tuple[str, int | None, int | None]]:
            """(line, fault code for the exit status, or an exit status) for one name."""
            group, process = split_namespec(name)
            if process is None:
                try:
                    results = getattr(srv, f"{method}ProcessGroup")(group, *args)
                except client.Fault as exc:
                    if exc.faultCode != FaultCode.BAD_NAME:
                        raise
                    return [(f"{group}: ERROR (no such group)", None, bad_group_code)]
                return [(render_result(r), r["status"], None) for r in results]
            try:
                getattr(srv, f"{method}Process")(name, *args)
            except client.Fault as exc:
                result = render.fault_result(name, exc.faultCode, exc.faultString)
                return [(render_result(result), exc.faultCode, None)]
            return [(f"{make_namespec(group, process)}: {success_word}", None, None)]

        def report(lines: list[tuple[str, int | None, int | None]]) -> None:
            for line, code, status in lines:
                self.output(line)
                if code is not None:
                    self.exit_from_result(code, ignored)
                if status is not None:
                    self.exitstatus = status

        try:
            if len(names) == 1:
                report(one(self.server, names[0]))
                return
            # several names act at once, each on its own connection: `stop a b c` takes as
            # long as the slowest, not the sum; lines come in the order given, each as soon
            # as it and those before it are done
            from concurrent.futures import ThreadPoolExecutor

            opts = self.options

            def on_own_connection(name: str) -> list[tuple[str, int | None, int | None]]:
                proxy = client.make_proxy(opts.serverurl, opts.username, opts.password)
                return one(proxy.supervisor, name)

            with ThreadPoolExecutor(min(len(names), 16)) as pool:
                for future in [pool.submit(on_own_connection, n) for n in names]:
                    report(future.result())
        except client.Fault:
            self.exitstatus = exitcodes.GENERIC
            raise

    def do_start(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.usage_error(
                "Error: start requires a process name", "start", exitcodes.INVALID_ARGS
            )
            return
        self._each_target(
            names,
            "start",
            (),
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
        self._each_target(
            names,
            "stop",
            (),
            render.stop_result,
            "stopped",
            FaultCode.NOT_RUNNING,
            exitcodes.GENERIC,
        )

    def do_restart(self, arg: str) -> None:
        if not self.upcheck():
            return
        words = arg.split()
        if "--rolling" in words or "--batch" in words:
            self._rolling(words)
            return
        if not words:
            self.usage_error("Error: restart requires a process name", "restart")
            return
        self.do_stop(arg)
        self.do_start(arg)

    def _rolling(self, words: list[str]) -> None:
        """restart --rolling [--batch K] NAME...: K processes at a time, the next ones only
        once the new ones are RUNNING (ready, with a ready_check); a failure ends it."""
        batch = 1
        names = []
        it = iter(words)
        for w in it:
            if w == "--batch":
                value = next(it, "")
                if not value.isdigit() or int(value) < 1:
                    self.usage_error("Error: --batch needs a count of 1 or more", "restart")
                    return
                batch = int(value)
            elif w != "--rolling":
                names.append(w)
        if not names:
            self.usage_error("Error: restart requires a process name", "restart")
            return
        infos = self.server.getAllProcessInfo()
        targets: list[str] = []
        for name in names:
            group, process = split_namespec(name)
            found = [
                make_namespec(i["group"], i["name"])
                for i in infos
                if i["group"] == group and (process is None or i["name"] == process)
            ]
            if not found and ":" not in name:  # `web`: the group web, as scale names it
                found = [make_namespec(i["group"], i["name"]) for i in infos if i["group"] == name]
            if not found:
                self.usage_error(f"{name}: ERROR (no such process)", None)
                return
            targets += [t for t in found if t not in targets]
        done = 0
        for at in range(0, len(targets), batch):
            step = targets[at : at + batch]
            self._each_target(
                step, "stop", (), render.stop_result, "stopped", FaultCode.NOT_RUNNING, 1
            )
            self.exitstatus = exitcodes.SUCCESS  # one that was not running is fine here
            self._each_target(
                step, "start", (), render.start_result, "started", None, exitcodes.GENERIC
            )
            if self.exitstatus != exitcodes.SUCCESS:
                left = len(targets) - done
                self.output(
                    f"rolling restart stopped: {left} of {len(targets)} not restarted "
                    "(the others run as they did)"
                )
                return
            done += len(step)

    def do_signal(self, arg: str) -> None:
        if not self.upcheck():
            return
        args = arg.split()
        if len(args) < 2:
            self.usage_error("Error: signal requires a signal name and a process name", "signal")
            return
        sig, names = args[0], args[1:]
        self._each_target(
            names,
            "signal",
            (sig,),
            render.signal_result,
            "signalled",
            None,
            exitcodes.GENERIC,
        )

    def do_pid(self, arg: str) -> None:
        as_json, arg = self.json_flag(arg)
        if not self.upcheck():
            return
        names = arg.split()
        srv = self.server
        if as_json:
            self._pid_json(names)
            return
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

    def _pid_json(self, names: list[str]) -> None:
        """{"corrald": pid, "processes": {namespec: pid}} for the names (all by default)."""
        infos = self.server.getAllProcessInfo()
        pids = {make_namespec(i["group"], i["name"]): i["pid"] for i in infos}
        if names and "all" not in names:
            unknown = [n for n in names if n not in pids]
            for name in unknown:
                self.output(f"No such process {name}")
                self.exitstatus = exitcodes.GENERIC
            pids = {n: pids[n] for n in names if n in pids}
        self.print_json({"daemon": self.server.getPID(), "processes": pids})

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
