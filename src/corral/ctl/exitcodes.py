"""Exit codes of supervisorctl 4.x (LSB init/status conventions); the last error wins."""

from __future__ import annotations

from corral.wire.faults import FaultCode

SUCCESS = 0
GENERIC = 1  # bad arguments, unknown names, unhandled exceptions
INVALID_ARGS = 2  # usage errors; `start` without a name or with an unknown group
NOT_RUNNING_STATUS = 3  # `status`: some listed process is not running; no supervisor namespace
UNKNOWN_STATUS = 4  # `status`: unknown name or unreachable server; connection refused
NOT_INSTALLED = 5  # API version mismatch
NOT_RUNNING = 7  # spawn error, abnormal termination, not running, socket file missing

# Faults that mean "the process is not running" rather than a generic failure.
_NOT_RUNNING_FAULTS = frozenset(
    {FaultCode.SPAWN_ERROR, FaultCode.ABNORMAL_TERMINATION, FaultCode.NOT_RUNNING}
)


def from_fault(code: int, ignored: int | None = None) -> int | None:
    """The exit code a result status implies, or None when it leaves the code alone."""
    if code == FaultCode.SUCCESS or (ignored is not None and code == ignored):
        return None
    if code in _NOT_RUNNING_FAULTS:
        return NOT_RUNNING
    return GENERIC
