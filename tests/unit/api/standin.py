"""A small stand-in for the runtime's Supervisor (not an OS mock: no processes are run).

It has the attributes and methods the api and server read, keeps process states in
memory and raises the runtime's domain errors the way the real one does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from corral.config.model import (
    AUTO,
    AutoRestart,
    Config,
    GroupConfig,
    GroupKind,
    InetServerConfig,
    LogChannelConfig,
    ProcessConfig,
    SupervisordConfig,
    UnixServerConfig,
)
from corral.runtime.errors import (
    AlreadyAdded,
    AlreadyStarted,
    Failed,
    NoFile,
    NoSuchProcess,
    NotRunning,
    StillRunning,
)
from corral.wire.names import make_namespec, split_namespec
from corral.wire.states import RUNNING_STATES, ProcessState, SupervisorState


def channel(logfile: str | None = AUTO) -> LogChannelConfig:
    return LogChannelConfig(
        logfile=logfile,
        maxbytes=50 * 1024 * 1024,
        backups=10,
        capture_maxbytes=0,
        events_enabled=False,
        syslog=False,
    )


def pconfig(
    name: str, priority: int = 999, command: str = "/bin/true", **kw: object
) -> ProcessConfig:
    values: dict[str, object] = dict(
        name=name,
        program=name,
        command=command,
        process_num=0,
        numprocs=1,
        priority=priority,
        autostart=True,
        startsecs=1,
        startretries=3,
        autorestart=AutoRestart.UNEXPECTED,
        exitcodes=(0,),
        stopsignal=15,
        stopwaitsecs=10,
        stopasgroup=False,
        killasgroup=False,
        user=None,
        uid=None,
        redirect_stderr=False,
        stdout=channel(),
        stderr=channel(),
        environment=(),
        directory=None,
        umask=None,
        serverurl=AUTO,
    )
    values.update(kw)
    return ProcessConfig(**values)  # type: ignore[arg-type]


def gconfig(name: str, *procs: ProcessConfig, priority: int = 999) -> GroupConfig:
    return GroupConfig(name=name, priority=priority, kind=GroupKind.PROGRAM, processes=procs)


def config(
    tmp: str,
    groups: tuple[GroupConfig, ...] = (),
    unix: tuple[UnixServerConfig, ...] = (),
    inet: tuple[InetServerConfig, ...] = (),
) -> Config:
    sd = SupervisordConfig(
        logfile=None,
        logfile_maxbytes=0,
        logfile_backups=0,
        loglevel="info",
        pidfile=os.path.join(tmp, "pid"),
        umask=0o22,
        nodaemon=True,
        silent=True,
        minfds=1024,
        minprocs=200,
        nocleanup=False,
        childlogdir=tmp,
        user=None,
        uid=None,
        directory=None,
        strip_ansi=False,
        environment=(),
        identifier="standin",
    )
    return Config(
        path=os.path.join(tmp, "corral.conf"),
        supervisord=sd,
        groups=groups,
        unix_servers=unix,
        inet_servers=inet,
    )


@dataclass
class Process:
    config: ProcessConfig
    group: str
    state: ProcessState = ProcessState.STOPPED
    pid: int = 0
    laststart: float = 0.0
    laststop: float = 0.0
    spawnerr: str = ""
    exitstatus: int = 0
    stdout_logfile: str | None = None
    stderr_logfile: str | None = None
    stdin: bytearray = field(default_factory=bytearray)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def namespec(self) -> str:
        return make_namespec(self.group, self.name)


@dataclass
class Group:
    config: GroupConfig
    processes: list[Process]

    @property
    def name(self) -> str:
        return self.config.name


class Logger:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _log(self, level: str, msg: str) -> None:
        self.lines.append((level, msg))

    def critical(self, msg: str) -> None:
        self._log("CRIT", msg)

    def error(self, msg: str) -> None:
        self._log("ERRO", msg)

    def warn(self, msg: str) -> None:
        self._log("WARN", msg)

    def info(self, msg: str) -> None:
        self._log("INFO", msg)

    def debug(self, msg: str) -> None:
        self._log("DEBG", msg)

    def trace(self, msg: str) -> None:
        self._log("TRAC", msg)


class NoDependencies:
    """The runtime's dependency tracker for a config without depends_on."""

    def __bool__(self) -> bool:
        return False


class StandInSupervisor:
    @property
    def stopping(self) -> bool:
        return self.state != SupervisorState.RUNNING

    def __init__(self, cfg: Config) -> None:
        self.config = cfg
        self.identifier = cfg.supervisord.identifier
        self.pid = os.getpid()
        self.state = SupervisorState.RUNNING
        self.mainlog_path: str | None = None
        self.server_url: str | None = None
        self.inactive: set[str] = set()  # configured groups not yet added
        self._groups = {
            g.name: Group(
                g, [Process(p, g.name) for p in sorted(g.processes, key=lambda p: p.priority)]
            )
            for g in cfg.groups
        }
        self.signals: list[tuple[str, int]] = []
        self.remote: list[tuple[str, str]] = []
        self.moods: list[str] = []
        self.next_pid = 1000
        self.deps = NoDependencies()

    def groups(self) -> list[Group]:
        return sorted(
            (g for g in self._groups.values() if g.name not in self.inactive),
            key=lambda g: (g.config.priority, g.name),
        )

    def processes(self) -> list[Process]:
        procs = [p for g in self.groups() for p in g.processes]
        return sorted(procs, key=lambda p: (p.group, p.name))

    def find(self, namespec: str) -> tuple[Group, Process | None]:
        gname, pname = split_namespec(namespec)
        group = self._groups.get(gname)
        if group is None or gname in self.inactive:
            raise NoSuchProcess(namespec)
        if pname is None:
            return group, None
        for p in group.processes:
            if p.name == pname:
                return group, p
        raise NoSuchProcess(namespec)

    async def start(self, proc: Process, wait: bool = True) -> None:
        if proc.state in RUNNING_STATES:
            raise AlreadyStarted(proc.namespec)
        if not proc.config.command.startswith("/bin/"):
            raise NoFile(f"can't find command {proc.config.command!r}")
        self.next_pid += 1
        proc.state, proc.pid, proc.laststart = ProcessState.RUNNING, self.next_pid, 1000.0

    async def stop(self, proc: Process, wait: bool = True) -> None:
        if proc.state not in RUNNING_STATES:
            raise NotRunning(proc.namespec)
        proc.state, proc.pid, proc.laststop = ProcessState.STOPPED, 0, 2000.0

    def signal(self, proc: Process, signum: int) -> None:
        if proc.state not in RUNNING_STATES:
            raise NotRunning(proc.namespec)
        self.signals.append((proc.namespec, signum))

    def send_stdin(self, proc: Process, data: bytes) -> None:
        if not proc.pid:
            raise NotRunning(proc.namespec)
        proc.stdin += data

    def clear_log(self, proc: Process) -> None:
        if proc.name == "unclearable":
            raise Failed("disk on fire")

    def clear_main_log(self) -> None:
        if self.mainlog_path is None:
            raise NoFile()

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        return (sorted(self.inactive), [], [])

    def all_process_configs(self) -> list[tuple[GroupConfig, ProcessConfig, bool]]:
        return [
            (g.config, p.config, g.name not in self.inactive)
            for g in self._groups.values()
            for p in g.processes
        ]

    async def add_group(self, name: str) -> None:
        if name not in self._groups:
            raise NoSuchProcess(name)
        if name not in self.inactive:
            raise AlreadyAdded(name)
        self.inactive.discard(name)

    async def remove_group(self, name: str) -> None:
        if name not in self._groups or name in self.inactive:
            raise NoSuchProcess(name)
        if any(p.state in RUNNING_STATES for p in self._groups[name].processes):
            raise StillRunning(name)
        self.inactive.add(name)

    def request_shutdown(self) -> None:
        self.moods.append("shutdown")

    def request_restart(self) -> None:
        self.moods.append("restart")

    def publish_remote(self, type_: str, data: str) -> None:
        self.remote.append((type_, data))


def standard(tmp: str) -> StandInSupervisor:
    """app (running), grp:{g1 prio 1, g2 prio 2}, nofile; as most tests want them."""
    groups = (
        gconfig("app", pconfig("app")),
        gconfig("grp", pconfig("g2", priority=2), pconfig("g1", priority=1), priority=5),
        gconfig("nofile", pconfig("nofile", command="/nonexistent")),
    )
    sup = StandInSupervisor(config(tmp, groups))
    _, app = sup.find("app")
    assert app is not None
    app.state, app.pid, app.laststart = ProcessState.RUNNING, 42, 1000.0
    return sup
