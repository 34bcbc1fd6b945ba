"""Who may call what: three rights, read < control < admin, and for control the programs it
covers. Every XML-RPC method (each call inside system.multicall too) is checked here; the
JSON API goes through the same methods, so through the same check.

    read      status, logs, config info, health, plan, stats, metrics, events, the dashboard
    control   read, and start, stop, restart, signal, sendProcessStdin for its programs
    admin     everything: reread, update, scale, add, remove, reload, shutdown, clear logs

The caller of the request being served is a context variable, set by the HTTP layer once the
credentials are checked (`CALLER`); without one (a server with no credentials) the caller is
ADMIN, as every caller of 4.3 is.
"""

from __future__ import annotations

import contextvars
import fnmatch
from dataclasses import dataclass

from corral.wire.names import split_namespec

READ, CONTROL, ADMIN = "read", "control", "admin"
RIGHTS = (READ, CONTROL, ADMIN)
_LEVEL = {READ: 0, CONTROL: 1, ADMIN: 2}

_READ = frozenset(
    {
        "supervisor.getAPIVersion",
        "supervisor.getVersion",
        "supervisor.getSupervisorVersion",
        "supervisor.getIdentification",
        "supervisor.getState",
        "supervisor.getPID",
        "supervisor.readLog",
        "supervisor.readMainLog",
        "supervisor.getProcessInfo",
        "supervisor.getAllProcessInfo",
        "supervisor.getAllConfigInfo",
        "supervisor.readProcessLog",
        "supervisor.readProcessStdoutLog",
        "supervisor.readProcessStderrLog",
        "supervisor.tailProcessLog",
        "supervisor.tailProcessStdoutLog",
        "supervisor.tailProcessStderrLog",
        "system.listMethods",
        "system.methodHelp",
        "system.methodSignature",
        "system.multicall",  # each call inside it is checked on its own
        "corral.getProcessInfo",
        "corral.getAllProcessInfo",
        "corral.health",
        "corral.plan",
        "corral.getStats",
        "corral.getExits",
    }
)
# control: the first argument names the process or group acted on
_CONTROL_NAMED = frozenset(
    {
        "supervisor.startProcess",
        "supervisor.stopProcess",
        "supervisor.signalProcess",
        "supervisor.startProcessGroup",
        "supervisor.stopProcessGroup",
        "supervisor.signalProcessGroup",
        "supervisor.sendProcessStdin",
    }
)
# control over every process at once: for a control user whose programs are not limited
_CONTROL_ALL = frozenset(
    {
        "supervisor.startAllProcesses",
        "supervisor.stopAllProcesses",
        "supervisor.signalAllProcesses",
    }
)


@dataclass(frozen=True)
class Caller:
    user: str
    rights: str  # read | control | admin
    programs: tuple[str, ...] = ()  # control limited to these (empty: all)
    source: str = ""  # 'unix' or the peer's address, for the audit log

    def at_least(self, right: str) -> bool:
        return _LEVEL[self.rights] >= _LEVEL[right]

    def covers(self, namespec: str) -> bool:
        """Is this process or group among the programs control is limited to?"""
        if not self.programs:
            return True
        group, process = split_namespec(namespec)
        for pattern in self.programs:
            pgroup, _, pproc = pattern.partition(":")
            if not fnmatch.fnmatchcase(group, pgroup):
                continue
            if not pproc or pproc == "*":
                return True  # the whole group
            if process is not None and fnmatch.fnmatchcase(process, pproc):
                return True
        return False


ADMIN_CALLER = Caller("-", ADMIN)
CALLER: contextvars.ContextVar[Caller] = contextvars.ContextVar("corral_caller")


def current() -> Caller:
    return CALLER.get(ADMIN_CALLER)


def needed(method: str) -> str:
    """The right a method needs (unknown names: admin)."""
    if method in _READ:
        return READ
    if method in _CONTROL_NAMED or method in _CONTROL_ALL:
        return CONTROL
    return ADMIN


def denial(caller: Caller, method: str, params: list[object]) -> str | None:
    """Why caller may not make this call, or None when it may."""
    right = needed(method)
    if not caller.at_least(right):
        return f"{method} needs the {right} right ({caller.user} has {caller.rights})"
    if right != CONTROL or caller.rights == ADMIN or not caller.programs:
        return None
    if method in _CONTROL_ALL:
        return f"{method} acts on every process; {caller.user} may control only some"
    name = params[0] if params else None
    if not isinstance(name, str) or not caller.covers(name):
        return f"{caller.user} may not control {name}"
    return None


def changes_something(method: str) -> bool:
    """Calls the audit log records: all but the read-only ones."""
    return needed(method) != READ
