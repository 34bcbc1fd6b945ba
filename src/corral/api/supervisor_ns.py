"""The `supervisor.*` namespace: Supervisor 4.3's methods, argument orders and answers.

Every method translates: look the name up, call the runtime, shape the answer. Group and
"all" variants are compositions of the per-process calls, run concurrently and awaited
(no polling); each answers one ResultStruct per process it acted on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corral.api.describe import all_config_info, process_info, result_struct
from corral.api.dispatch import Method, Param, fault
from corral.api.help import HELP
from corral.api.ordering import each_in_4_3_order
from corral.config.convert import parse_signal
from corral.logs import tail
from corral.runtime.errors import (
    AbnormalTermination,
    AlreadyAdded,
    AlreadyStarted,
    BadSignal,
    Failed,
    NoFile,
    NoSuchProcess,
    NotRunning,
    RuntimeFault,
    ShuttingDown,
    SpawnError,
    StillRunning,
)
from corral.wire.faults import API_VERSION, SUPERVISOR_VERSION, FaultCode, fault_string
from corral.wire.names import make_namespec
from corral.wire.states import (
    RUNNING_STATES,
    SIGNALLABLE_STATES,
    ProcessState,
    SupervisorState,
)

if TYPE_CHECKING:
    from corral.runtime.group import Group as GroupLike
    from corral.runtime.process import Process as ProcessLike
    from corral.runtime.supervisor import Supervisor as SupervisorLike

# Faults whose text names the process as the caller spelled it (4.3 does the same).
_NAMED = (
    AlreadyStarted,
    SpawnError,
    AbnormalTermination,
    NotRunning,
    AlreadyAdded,
    StillRunning,
    NoSuchProcess,
)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def signal_number(value: object) -> int:
    """A signal by name or number; BadSignal (naming the value as sent) otherwise."""
    try:
        return parse_signal(value if isinstance(value, str) else int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise BadSignal(value if isinstance(value, str) else str(value)) from None


class SupervisorNamespace:
    def __init__(self, sup: SupervisorLike) -> None:
        self.sup = sup

    # -- helpers ------------------------------------------------------------------------

    def _guard(self) -> None:
        if self.sup.stopping:
            raise ShuttingDown()

    def _find(self, name: str) -> tuple[GroupLike, ProcessLike | None]:
        try:
            return self.sup.find(name)
        except NoSuchProcess:
            raise NoSuchProcess(name)

    def _process(self, name: str) -> ProcessLike:
        """A single process; `group:*` is not one (BAD_NAME)."""
        _, proc = self._find(name)
        if proc is None:
            raise NoSuchProcess(name)
        return proc

    def _group(self, name: str) -> GroupLike:
        for group in self.sup.groups():
            if group.name == name:
                return group
        raise NoSuchProcess(name)

    def _all(self) -> list[ProcessLike]:
        """Every process in start order: groups by priority, then processes by priority."""
        return [proc for group in self.sup.groups() for proc in group.processes]

    # -- daemon -------------------------------------------------------------------------

    def get_api_version(self) -> str:
        return API_VERSION

    def get_supervisor_version(self) -> str:
        return SUPERVISOR_VERSION

    def get_identification(self) -> str:
        return self.sup.identifier

    def get_state(self) -> dict[str, Any]:
        state = SupervisorState(self.sup.state)
        return {"statecode": int(state), "statename": state.name}

    def get_pid(self) -> int:
        return self.sup.pid

    def read_log(self, offset: int, length: int) -> str:
        path = self.sup.mainlog_path
        return self._read(path, offset, length, path)

    def clear_log(self) -> bool:
        try:
            self.sup.clear_main_log()
        except NoFile:
            raise NoFile()
        except Failed:
            raise Failed()
        return True

    def shutdown(self) -> bool:
        self.sup.request_shutdown()
        return True

    def restart(self) -> bool:
        self.sup.request_restart()
        return True

    def reload_config(self) -> list[list[list[str]]]:
        added, changed, removed = self.sup.reload_config()
        return [[list(added), list(changed), list(removed)]]

    async def add_process_group(self, name: str) -> bool:
        try:
            await self.sup.add_group(name)
        except (AlreadyAdded, NoSuchProcess) as exc:
            raise type(exc)(name)
        return True

    async def remove_process_group(self, name: str) -> bool:
        try:
            await self.sup.remove_group(name)
        except (StillRunning, NoSuchProcess) as exc:
            raise type(exc)(name)
        return True

    # -- start / stop / signal ----------------------------------------------------------

    async def _start(self, proc: ProcessLike, name: str, wait: bool) -> None:
        self._guard()
        try:
            await self.sup.start(proc, wait)
        except _NAMED as exc:
            raise type(exc)(name)

    async def start_process(self, name: str, wait: bool = True) -> Any:
        group, proc = self._find(name)
        if proc is None:
            return await self.start_process_group(group.name, wait)
        await self._start(proc, name, wait)
        return True

    async def start_process_group(self, name: str, wait: bool = True) -> list[dict[str, Any]]:
        group = self._group(name)
        todo = [p for p in group.processes if p.state not in RUNNING_STATES]
        return await each_in_4_3_order(todo, lambda p: self._start(p, p.namespec, wait))

    async def start_all_processes(self, wait: bool = True) -> list[dict[str, Any]]:
        todo = [p for p in self._all() if p.state not in RUNNING_STATES]
        return await each_in_4_3_order(todo, lambda p: self._start(p, p.namespec, wait))

    async def _stop(self, proc: ProcessLike, name: str, wait: bool) -> None:
        self._guard()
        try:
            await self.sup.stop(proc, wait)
        except _NAMED as exc:
            raise type(exc)(name)

    async def stop_process(self, name: str, wait: bool = True) -> Any:
        group, proc = self._find(name)
        if proc is None:
            return await self.stop_process_group(group.name, wait)
        await self._stop(proc, name, wait)
        return True

    async def stop_process_group(self, name: str, wait: bool = True) -> list[dict[str, Any]]:
        group = self._group(name)
        todo = [p for p in group.processes if p.state in RUNNING_STATES]
        return await each_in_4_3_order(todo, lambda p: self._stop(p, p.namespec, wait))

    async def stop_all_processes(self, wait: bool = True) -> list[dict[str, Any]]:
        # 4.3 stops in ascending priority, all at once (shutdown uses reverse order).
        todo = [p for p in self._all() if p.state in RUNNING_STATES]
        deps = self.sup.deps
        if not deps:
            return await each_in_4_3_order(todo, lambda p: self._stop(p, p.namespec, wait))

        async def after_dependents(p: ProcessLike) -> None:
            # depends_on: dependents first (corral's order; without it 4.3's, all at once)
            await deps.dependents_down(p)
            await self._stop(p, p.namespec, wait)

        return await each_in_4_3_order(todo, after_dependents)

    async def _signal(self, proc: ProcessLike, name: str, sig: object) -> None:
        self._guard()
        signum = signal_number(sig)
        try:
            self.sup.signal(proc, signum)
        except NotRunning:
            raise NotRunning(name)

    async def signal_process(self, name: str, sig: object) -> Any:
        group, proc = self._find(name)
        if proc is None:
            return await self.signal_process_group(group.name, sig)
        await self._signal(proc, name, sig)
        return True

    async def signal_process_group(self, name: str, sig: object) -> list[dict[str, Any]]:
        group = self._group(name)
        todo = [p for p in group.processes if p.state in SIGNALLABLE_STATES]
        results = await each_in_4_3_order(todo, lambda p: self._signal(p, p.namespec, sig))
        self._guard()
        return results

    async def signal_all_processes(self, sig: object) -> list[dict[str, Any]]:
        # Not guarded up front: 4.3 sends the signals, then reports SHUTDOWN_STATE.
        todo = [p for p in self._all() if p.state in SIGNALLABLE_STATES]
        results = await each_in_4_3_order(todo, lambda p: self._signal(p, p.namespec, sig))
        self._guard()
        return results

    # -- information --------------------------------------------------------------------

    def get_all_config_info(self) -> list[dict[str, Any]]:
        def live(group: str, name: str) -> ProcessLike | None:
            try:
                return self.sup.find(make_namespec(group, name))[1]
            except NoSuchProcess:
                return None

        return all_config_info(self.sup.all_process_configs(), live)

    def get_process_info(self, name: str) -> dict[str, Any]:
        return dict(process_info(self._process(name)))

    def get_all_process_info(self) -> list[dict[str, Any]]:
        procs = sorted(self.sup.processes(), key=lambda p: (p.group, p.name))
        now = time.time()  # one clock read for all: 4.3's `now` is the same in every struct
        return [dict(process_info(p, now)) for p in procs]

    # -- logs ---------------------------------------------------------------------------

    def _read(self, path: str | None, offset: int, length: int, shown: str | None) -> str:
        if path is None or not os.path.exists(path):
            raise NoFile(shown)
        try:
            return _text(tail.read_log(path, offset, length))
        except tail.BadArguments:
            raise fault(FaultCode.BAD_ARGUMENTS)
        except tail.NoLogFile:
            raise NoFile(shown)
        except (tail.ReadFailed, OSError):
            raise Failed()

    def read_process_stdout_log(self, name: str, offset: int, length: int) -> str:
        path = self._process(name).stdout_logfile
        return self._read(path, offset, length, path)

    def read_process_stderr_log(self, name: str, offset: int, length: int) -> str:
        path = self._process(name).stderr_logfile
        return self._read(path, offset, length, path)

    def _tail_log(self, path: str | None, offset: int, length: int) -> list[Any]:
        if path is None or not os.path.exists(path):
            return ["", 0, False]
        data, new_offset, overflow = tail.tail_log(path, offset, length)
        return [_text(data), new_offset, overflow]

    def tail_process_stdout_log(self, name: str, offset: int, length: int) -> list[Any]:
        return self._tail_log(self._process(name).stdout_logfile, offset, length)

    def tail_process_stderr_log(self, name: str, offset: int, length: int) -> list[Any]:
        return self._tail_log(self._process(name).stderr_logfile, offset, length)

    def _clear(self, proc: ProcessLike, name: str) -> None:
        self._guard()
        try:
            self.sup.clear_log(proc)
        except Failed:
            raise Failed(name)

    def clear_process_logs(self, name: str) -> bool:
        self._clear(self._process(name), name)
        return True

    async def clear_all_process_logs(self) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for proc in self._all():  # one at a time, in start order, as 4.3 does
            try:
                self._clear(proc, proc.namespec)
            except RuntimeFault as exc:
                text = fault_string(exc.code, exc.detail)
                results.append(dict(result_struct(proc, exc.code, text)))
            else:
                results.append(dict(result_struct(proc, FaultCode.SUCCESS, "OK")))
        return results

    # -- stdin and events ---------------------------------------------------------------

    def send_process_stdin(self, name: str, chars: object) -> bool:
        if not isinstance(chars, str | bytes):
            raise fault(FaultCode.INCORRECT_PARAMETERS, str(chars))
        data = chars.encode("utf-8") if isinstance(chars, str) else chars
        proc = self._process(name)
        if not proc.pid or proc.state == ProcessState.STOPPING:
            raise NotRunning(name)
        try:
            self.sup.send_stdin(proc, data)
        except (NotRunning, NoFile) as exc:
            raise type(exc)(name)
        return True

    def send_remote_comm_event(self, type_: str, data: str) -> bool:
        self.sup.publish_remote(type_, data)
        return True

    # -- the table ----------------------------------------------------------------------

    def methods(self) -> list[Method]:
        """The method table: wire name, implementation, methodSignature types."""
        name = Param("name", "string")
        wait = Param("wait", "boolean", True)
        offset, length = Param("offset", "int"), Param("length", "int")
        sig = Param("signal", "string", strict=False)  # a name or a number; BAD_SIGNAL itself
        chars = Param("chars", "string", strict=False)  # 4.3's own INCORRECT_PARAMETERS text
        log = (name, offset, length)

        def m(short: str, func: Callable[..., Any], returns: str, *params: Param) -> Method:
            return Method(
                f"supervisor.{short}", func, returns, params, HELP[short], short not in UNGUARDED
            )

        return [
            m("getAPIVersion", self.get_api_version, "string"),
            m("getVersion", self.get_api_version, "string"),
            m("getSupervisorVersion", self.get_supervisor_version, "string"),
            m("getIdentification", self.get_identification, "string"),
            m("getState", self.get_state, "struct"),
            m("getPID", self.get_pid, "int"),
            m("readLog", self.read_log, "string", offset, length),
            m("readMainLog", self.read_log, "string", offset, length),
            m("clearLog", self.clear_log, "boolean"),
            m("shutdown", self.shutdown, "boolean"),
            m("restart", self.restart, "boolean"),
            m("reloadConfig", self.reload_config, "array"),
            m("addProcessGroup", self.add_process_group, "boolean", name),
            m("removeProcessGroup", self.remove_process_group, "boolean", name),
            m("startProcess", self.start_process, "boolean", name, wait),
            m("startProcessGroup", self.start_process_group, "array", name, wait),
            m("startAllProcesses", self.start_all_processes, "array", wait),
            m("stopProcess", self.stop_process, "boolean", name, wait),
            m("stopProcessGroup", self.stop_process_group, "array", name, wait),
            m("stopAllProcesses", self.stop_all_processes, "array", wait),
            m("signalProcess", self.signal_process, "boolean", name, sig),
            m("signalProcessGroup", self.signal_process_group, "array", name, sig),
            m("signalAllProcesses", self.signal_all_processes, "array", sig),
            m("getAllConfigInfo", self.get_all_config_info, "array"),
            m("getProcessInfo", self.get_process_info, "struct", name),
            m("getAllProcessInfo", self.get_all_process_info, "array"),
            m("readProcessStdoutLog", self.read_process_stdout_log, "string", *log),
            m("readProcessLog", self.read_process_stdout_log, "string", *log),
            m("readProcessStderrLog", self.read_process_stderr_log, "string", *log),
            m("tailProcessStdoutLog", self.tail_process_stdout_log, "array", *log),
            m("tailProcessLog", self.tail_process_stdout_log, "array", *log),
            m("tailProcessStderrLog", self.tail_process_stderr_log, "array", *log),
            m("clearProcessLogs", self.clear_process_logs, "boolean", name),
            m("clearProcessLog", self.clear_process_logs, "boolean", name),
            m("clearAllProcessLogs", self.clear_all_process_logs, "array"),
            m("sendProcessStdin", self.send_process_stdin, "boolean", name, chars),
            m("sendRemoteCommEvent", self.send_remote_comm_event, "boolean", *_TYPE_DATA),
        ]


_TYPE_DATA = (Param("type", "string"), Param("data", "string"))

# Answer even while the daemon shuts down (signalAllProcesses checks after signalling).
UNGUARDED = frozenset({"sendRemoteCommEvent", "signalAllProcesses"})
__all__ = ["SupervisorNamespace", "signal_number"]
