"""Domain errors raised by the runtime; `api/` maps each to its XML-RPC fault.

RuntimeFault
├── NoSuchProcess      (BAD_NAME)       unknown process or group name
├── BadSignal          (BAD_SIGNAL)
├── NoFile             (NO_FILE)        command not found / log file missing / stdin closed
├── NotExecutable      (NOT_EXECUTABLE)
├── Failed             (FAILED)
├── AbnormalTermination(ABNORMAL_TERMINATION)
├── SpawnError         (SPAWN_ERROR)
├── AlreadyStarted     (ALREADY_STARTED)
├── NotRunning         (NOT_RUNNING)
├── AlreadyAdded       (ALREADY_ADDED)
├── StillRunning       (STILL_RUNNING)
├── CantReread         (CANT_REREAD)
├── BadArguments       (BAD_ARGUMENTS)
└── ShuttingDown       (SHUTDOWN_STATE)
"""

from __future__ import annotations

from corral.wire.faults import FaultCode


class RuntimeFault(Exception):
    code: FaultCode = FaultCode.FAILED

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail


class NoSuchProcess(RuntimeFault):
    code = FaultCode.BAD_NAME


class BadSignal(RuntimeFault):
    code = FaultCode.BAD_SIGNAL


class NoFile(RuntimeFault):
    code = FaultCode.NO_FILE


class NotExecutable(RuntimeFault):
    code = FaultCode.NOT_EXECUTABLE


class Failed(RuntimeFault):
    code = FaultCode.FAILED


class AbnormalTermination(RuntimeFault):
    code = FaultCode.ABNORMAL_TERMINATION


class SpawnError(RuntimeFault):
    code = FaultCode.SPAWN_ERROR


class AlreadyStarted(RuntimeFault):
    code = FaultCode.ALREADY_STARTED


class NotRunning(RuntimeFault):
    code = FaultCode.NOT_RUNNING


class AlreadyAdded(RuntimeFault):
    code = FaultCode.ALREADY_ADDED


class StillRunning(RuntimeFault):
    code = FaultCode.STILL_RUNNING


class CantReread(RuntimeFault):
    code = FaultCode.CANT_REREAD


class BadArguments(RuntimeFault):
    code = FaultCode.BAD_ARGUMENTS


class ShuttingDown(RuntimeFault):
    code = FaultCode.SHUTDOWN_STATE
