"""XML-RPC fault codes of Supervisor's API (fixed by compatibility)."""

from __future__ import annotations

from enum import IntEnum


class FaultCode(IntEnum):
    UNKNOWN_METHOD = 1
    INCORRECT_PARAMETERS = 2
    BAD_ARGUMENTS = 3
    SIGNATURE_UNSUPPORTED = 4
    SHUTDOWN_STATE = 6
    BAD_NAME = 10
    BAD_SIGNAL = 11
    NO_FILE = 20
    NOT_EXECUTABLE = 21
    FAILED = 30
    ABNORMAL_TERMINATION = 40
    SPAWN_ERROR = 50
    ALREADY_STARTED = 60
    NOT_RUNNING = 70
    SUCCESS = 80
    ALREADY_ADDED = 90
    STILL_RUNNING = 91
    CANT_REREAD = 92


def fault_string(code: FaultCode, detail: str | None = None) -> str:
    """Supervisor's faultString: the code's name, then ': detail' when there is one."""
    return code.name if detail is None else f"{code.name}: {detail}"


API_VERSION = "3.0"
# What getSupervisorVersion reports: clients (and supervisorctl's `version`) expect 4.x.
SUPERVISOR_VERSION = "4.3.0"
