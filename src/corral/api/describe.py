"""The structs of Supervisor's API, built from runtime objects and config.

Dict key order is part of the wire format (XML-RPC structs keep insertion order and
some clients print them), so each builder writes its keys in supervisord 4.3's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corral.config.model import AUTO, GroupConfig, ProcessConfig
from corral.wire.faults import FaultCode
from corral.wire.records import ProcessInfo, ResultStruct, capped
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.process import Process as ProcessLike


def process_info(proc: ProcessLike, now: float | None = None) -> ProcessInfo:
    start = capped(proc.laststart)
    stop = capped(proc.laststop)
    now_i = capped(time.time() if now is None else now)
    state = ProcessState(proc.state)
    stdout = proc.stdout_logfile or ""
    return {
        "name": proc.name,
        "group": proc.group,
        "start": start,
        "stop": stop,
        "now": now_i,
        "state": int(state),
        "statename": state.name,
        "spawnerr": proc.spawnerr or "",
        "exitstatus": exit_status(state, proc.exitstatus),
        "logfile": stdout,  # deprecated alias of stdout_logfile, still read by old clients
        "stdout_logfile": stdout,
        "stderr_logfile": proc.stderr_logfile or "",
        "pid": proc.pid or 0,
        "description": description(
            state, start, stop, now_i, proc.pid or 0, proc.spawnerr or "", proc.name
        )
        or (proc.starting_note() if state == ProcessState.STARTING else ""),
    }


def exit_status(state: ProcessState, last: int | None) -> int:
    """The exit status 4.3 shows: that of a run that ended in EXITED or a stop.

    4.3 forgets it when a new run starts and when a start fails (too quick), so a process
    that is STARTING, RUNNING, STOPPING, BACKOFF or FATAL shows 0.
    """
    if state in (ProcessState.EXITED, ProcessState.STOPPED):
        return last or 0
    return 0


def uptime(seconds: int) -> str:
    """`str(datetime.timedelta(seconds=seconds))`, as 4.3 prints it. Written out: the daemon
    has no other use for datetime, and after dropping to `user=` it may not read the stdlib."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}"
    if days:
        return f"{days} day{'s' if days != 1 else ''}, {clock}"
    return clock


def description(
    state: ProcessState, start: int, stop: int, now: int, pid: int, spawnerr: str, name: str
) -> str:
    """The human text `status` prints after the state name."""
    if state == ProcessState.RUNNING:
        return f"pid {pid}, uptime {uptime(max(0, now - start))}"  # clock set back: 0
    if state in (ProcessState.BACKOFF, ProcessState.FATAL):
        return spawnerr or f'unknown error (try "tail {name}")'
    if state in (ProcessState.STOPPED, ProcessState.EXITED):
        if not start:
            return "Not started"
        return time.strftime("%b %d %I:%M %p", time.localtime(stop))
    return ""


def result_struct(proc: ProcessLike, code: FaultCode, text: str) -> ResultStruct:
    """One entry of a group/all operation's answer ('OK' with SUCCESS)."""
    return {"name": proc.name, "group": proc.group, "status": int(code), "description": text}


def _wire(value: Any) -> Any:
    # XML-RPC has no None and no sentinel: 4.3 sends these spellings instead.
    if value is None:
        return "none"
    if value == AUTO:
        return "auto"
    return value


def config_info(
    group: GroupConfig, proc: ProcessConfig, inuse: bool, live: ProcessLike | None = None
) -> dict[str, Any]:
    """One entry of getAllConfigInfo (omits what 4.3 omits: autorestart, environment...).

    AUTO log paths show as 'auto' until a live process (`live`) has resolved them.
    """
    out, err = proc.stdout, proc.stderr
    stdout_log, stderr_log = out.logfile, err.logfile
    if live is not None:
        if stdout_log == AUTO:
            stdout_log = live.stdout_logfile
        if stderr_log == AUTO:
            stderr_log = live.stderr_logfile
    info: dict[str, Any] = {
        "autostart": proc.autostart,
        "directory": proc.directory,
        "uid": proc.uid,
        "command": proc.command,
        "exitcodes": list(proc.exitcodes),
        "group": group.name,
        "group_prio": group.priority,
        "inuse": inuse,
        "killasgroup": proc.killasgroup,
        "name": proc.name,
        "process_prio": proc.priority,
        "redirect_stderr": proc.redirect_stderr,
        "startretries": proc.startretries,
        "startsecs": proc.startsecs,
        "stdout_capture_maxbytes": out.capture_maxbytes,
        "stdout_events_enabled": out.events_enabled,
        "stdout_logfile": stdout_log,
        "stdout_logfile_backups": out.backups,
        "stdout_logfile_maxbytes": out.maxbytes,
        "stdout_syslog": out.syslog,
        "stopsignal": int(proc.stopsignal),
        "stopwaitsecs": proc.stopwaitsecs,
        "stderr_capture_maxbytes": err.capture_maxbytes,
        "stderr_events_enabled": err.events_enabled,
        "stderr_logfile": stderr_log,
        "stderr_logfile_backups": err.backups,
        "stderr_logfile_maxbytes": err.maxbytes,
        "stderr_syslog": err.syslog,
        # AUTO (the default) means "the daemon's own URL", which 4.3 reports as unset.
        "serverurl": None if proc.serverurl in (AUTO, "") else proc.serverurl,
    }
    return {key: _wire(value) for key, value in info.items()}


def all_config_info(
    entries: list[tuple[GroupConfig, ProcessConfig, bool]],
    live: Callable[[str, str], ProcessLike | None] = lambda group, name: None,
) -> list[dict[str, Any]]:
    """getAllConfigInfo; `live(group, name)` finds the running process of an in-use entry."""
    infos = [
        config_info(g, p, inuse, live(g.name, p.name) if inuse else None) for g, p, inuse in entries
    ]
    infos.sort(key=lambda info: info["name"])  # stable: same-named processes keep group order
    return infos
