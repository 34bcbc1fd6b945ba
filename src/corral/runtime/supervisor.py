"""The root of the live daemon, as the API sees it: the registry of groups and processes,
process control, runtime config changes. The daemon's life is in `lifecycle.py`, spawning in
`spawning.py`, output routing in `output.py`.

All state lives on one event loop. Signal handlers and RPCs only ask; this object acts.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections import deque
from collections.abc import Callable

from corral.config import load as load_config
from corral.config.diff import diff as diff_config
from corral.config.model import Config, ConfigError, GroupConfig, GroupKind, ProcessConfig
from corral.logs.mainlog import MainLog
from corral.runtime import errors
from corral.runtime.dependencies import Dependencies
from corral.runtime.eventbus import EventBus, GroupChanged, ProcessStateChanged
from corral.runtime.group import FcgiSocketError, Group, open_fcgi_socket
from corral.runtime.lifecycle import Closable, DaemonWant, Lifecycle, ServeFactory, wait_stopped
from corral.runtime.listeners import ListenerPool
from corral.runtime.output import OutputRouter
from corral.runtime.plan import Step
from corral.runtime.plan import steps as plan_steps
from corral.runtime.process import Process
from corral.runtime.reaper import Reaper
from corral.runtime.spawn import SpawnFailure, resolve_command
from corral.runtime.spawning import Spawner
from corral.runtime.transitions import Ev
from corral.runtime.update import Outcome, carry_out, scale_group
from corral.wire.names import split_namespec
from corral.wire.states import RUNNING_STATES, STOPPED_STATES, ProcessState, SupervisorState

__all__ = ["Closable", "ServeFactory", "Supervisor"]

EXITS_KEPT = 10  # exits remembered per process


class Supervisor:
    def __init__(
        self, config: Config, mainlog: MainLog, *, overrides: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.log = mainlog
        self.overrides = dict(overrides or {})
        self.identifier = config.supervisord.identifier
        self.pid = os.getpid()
        self.state = SupervisorState.RUNNING
        self.reaper = Reaper(mainlog)
        self.events = EventBus(self.identifier, mainlog)
        self.pools: dict[str, ListenerPool[Process]] = {}
        self._groups: dict[str, Group] = {}
        # namespecs the operator stopped: they stay stopped through update and reload
        self.held: set[str] = set()
        # the last exits of each process (the dashboard's process page), newest last
        self.exits: dict[str, deque[dict[str, object]]] = {}
        self.health_watchers: list[Callable[[Process], None]] = []  # the event stream's
        self.spawner = Spawner(self)
        self.output = OutputRouter(self)
        self.lifecycle = Lifecycle(self)
        self.deps = Dependencies(self)

    # --- read-only views -------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        """The shutdown guard: True once the daemon is restarting or shutting down."""
        return self.state != SupervisorState.RUNNING

    @property
    def mainlog_path(self) -> str | None:
        return self.log.path

    @property
    def server_url(self) -> str | None:
        for unix in self.config.unix_servers:
            return f"unix://{unix.file}"
        for inet in self.config.inet_servers:
            scheme = "https" if inet.certfile else "http"
            return f"{scheme}://{inet.host or 'localhost'}:{inet.port}"
        return None

    def group(self, name: str) -> Group | None:
        return self._groups.get(name)

    def is_held(self, proc: Process) -> bool:
        """Stopped by the operator (and not started since): autostart passes it by."""
        return proc.namespec in self.held

    def groups(self) -> list[Group]:
        return sorted(self._groups.values(), key=lambda g: (g.config.priority, g.name))

    def processes(self) -> list[Process]:
        return sorted(
            (p for g in self._groups.values() for p in g.processes), key=lambda p: (p.group, p.name)
        )

    def priority_level(self, proc: Process) -> tuple[int, int]:
        """Start order: the group's priority, then the program's."""
        return (self._groups[proc.group].config.priority, proc.config.priority)

    def find(self, namespec: str) -> tuple[Group, Process | None]:
        group_name, process_name = split_namespec(namespec)
        group = self._groups.get(group_name)
        if group is None:
            raise errors.NoSuchProcess(namespec)
        if process_name is None:
            return group, None
        proc = group.process(process_name)
        if proc is None:
            raise errors.NoSuchProcess(namespec)
        return group, proc

    def all_process_configs(self) -> list[tuple[GroupConfig, ProcessConfig, bool]]:
        rows = []
        for gconf in self.config.groups:
            active = gconf.name in self._groups
            for pconf in gconf.processes:
                rows.append((gconf, pconf, active))
        return rows

    def fcgi_socket_fd(self, group: str) -> int | None:
        g = self._groups.get(group)
        if g is None or g.fcgi_socket is None:
            return None
        return g.fcgi_socket.fileno()

    def child_env(self, proc: Process) -> dict[str, str]:
        return self.spawner.child_env(proc)

    def cleanup_auto_logs(self) -> None:
        self.output.cleanup_auto_logs()

    # --- groups ---------------------------------------------------------------------

    def activate(self, gconf: GroupConfig) -> Group:
        sock: socket.socket | None = None
        if gconf.fcgi_socket is not None:
            sock = open_fcgi_socket(gconf.fcgi_socket)
        procs = [self.new_process(gconf.name, pconf) for pconf in gconf.processes]
        group = Group(gconf, procs, sock)
        self._groups[gconf.name] = group
        self.deps.stale()
        if gconf.kind is GroupKind.EVENTLISTENER and gconf.listener is not None:
            self.pools[gconf.name] = ListenerPool(
                gconf.name,
                gconf.listener,
                self.events,
                self.log,
                group.processes,
                restart=self._restart_listener,
            )
        return group

    def new_process(self, group: str, pconf: ProcessConfig) -> Process:
        proc = Process(
            self,
            group,
            pconf,
            self.output.log_path(pconf, "stdout"),
            self.output.log_path(pconf, "stderr"),
        )
        proc.on_change = self._on_change
        return proc

    def deactivate(self, name: str) -> None:
        group = self._groups.pop(name)
        self.deps.stale()
        group.close()
        pool = self.pools.pop(name, None)
        if pool is not None:
            pool.close()

    def close_groups(self) -> None:
        for name in list(self._groups):
            self.deactivate(name)

    def health_changed(self, proc: Process) -> None:
        for watcher in self.health_watchers:
            watcher(proc)

    def _record_exit(self, proc: Process, old: ProcessState, new: ProcessState) -> None:
        if new in (ProcessState.EXITED, ProcessState.BACKOFF, ProcessState.FATAL) or (
            new == ProcessState.STOPPED and old == ProcessState.STOPPING
        ):
            ring = self.exits.get(proc.namespec)
            if ring is None:
                ring = self.exits[proc.namespec] = deque(maxlen=EXITS_KEPT)
            ring.append(
                {
                    "time": round(time.time(), 3),
                    "state": new.name,
                    "exitstatus": proc.exitstatus or 0,
                    "expected": bool(proc.exit_expected),
                    "why": proc.exit_text or proc.spawnerr or "",
                }
            )

    def _on_change(self, proc: Process, old: ProcessState, new: ProcessState) -> None:
        self._record_exit(proc, old, new)
        pool = self.pools.get(proc.group)
        if pool is not None:
            pool.on_state_change(proc, old, new)
        self.events.publish(
            ProcessStateChanged(
                proc.name, proc.group, old, new, proc.pid, proc.tries, proc.exit_expected
            )
        )

    def _restart_listener(self, proc: Process) -> None:
        async def again() -> None:
            if proc.state in RUNNING_STATES:
                proc.handle(Ev.STOP)
                await proc.wait_for(lambda p: p.state in STOPPED_STATES)
            if not self.stopping:
                proc.handle(Ev.START)

        tasks = self.lifecycle.tasks
        if tasks is not None:
            tasks.spawn(again(), f"restart {proc.namespec}")

    def publish_remote(self, type_: str, data: str) -> None:
        self.events.publish_remote(type_, data)

    # --- process control (called by the API) --------------------------------------------

    def _check_running(self) -> None:
        if self.stopping:
            raise errors.ShuttingDown()

    async def start(self, proc: Process, wait: bool = True) -> None:
        self._check_running()
        if proc.state == ProcessState.STOPPING:
            await proc.wait_for(lambda p: p.state != ProcessState.STOPPING)
        if proc.state in (ProcessState.STARTING, ProcessState.RUNNING):
            raise errors.AlreadyStarted(proc.namespec)
        try:
            resolve_command(proc.config.command, self.child_env(proc))
        except SpawnFailure as e:
            if e.kind == "nofile":
                raise errors.NoFile(e.message) from None
            if e.kind != "envfile":  # a bad env file fails the spawn itself: BACKOFF, FATAL
                raise errors.NotExecutable(e.message) from None
        self.held.discard(proc.namespec)
        proc.handle(Ev.START)
        if not wait:
            return
        await proc.wait_for(lambda p: p.state not in (ProcessState.STARTING, ProcessState.BACKOFF))
        state = ProcessState(proc.state)  # read afresh: it changed while we waited
        if state == ProcessState.RUNNING:
            return
        if state == ProcessState.FATAL:
            raise errors.SpawnError(proc.namespec)
        raise errors.AbnormalTermination(proc.namespec)

    async def stop(self, proc: Process, wait: bool = True) -> None:
        """The operator's stop: the process stays stopped through update and reload."""
        if proc.state in RUNNING_STATES or proc.restart_pending:
            self.held.add(proc.namespec)
        if proc.restart_pending:  # EXITED, its restart_delay running: the restart is off
            proc.handle(Ev.STOP)
            return
        if proc.state not in RUNNING_STATES:
            raise errors.NotRunning(proc.namespec)
        proc.handle(Ev.STOP)
        if wait:
            await wait_stopped(self, [proc], 2.0, "waiting for {} to stop")

    def signal(self, proc: Process, signum: int) -> None:
        if (
            proc.state not in (ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING)
            or not proc.pid
        ):
            raise errors.NotRunning(proc.namespec)
        try:
            proc.signal(signum)
        except OSError as e:
            raise errors.Failed(f"{proc.namespec}: {e}") from None

    def send_stdin(self, proc: Process, data: bytes) -> None:
        if not proc.pid or proc.state == ProcessState.STOPPING:
            raise errors.NotRunning(proc.namespec)
        try:
            proc.write_stdin(data)
        except OSError:
            raise errors.NoFile(proc.namespec) from None

    def clear_log(self, proc: Process) -> None:
        try:
            for sink in (proc.stdout_sink, proc.stderr_sink):
                if sink is not None:
                    sink.clear()
        except OSError as e:
            raise errors.Failed(f"{proc.namespec}: {e}") from None

    def clear_main_log(self) -> None:
        if self.log.path is None:
            raise errors.NoFile()
        try:
            self.log.clear()
        except OSError as e:
            raise errors.Failed(str(e)) from None

    def reopen_logs(self) -> None:
        self.log.reopen()
        for proc in self.processes():
            proc.reopen_logs()

    # --- runtime config changes ----------------------------------------------------------

    def read_config(self, numprocs: dict[str, int] | None = None) -> Config:
        return load_config(
            self.config.path,
            overrides=self.overrides,
            container=self.config.supervisord.container,
            numprocs=numprocs,
        )

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        """reread: load the file again; groups change only through add/remove (or apply)."""
        self._check_running()
        # Daemon-wide settings only change on a full reload; groups change on reread.
        new = self._read_for_update()
        plan = diff_config(self.active_config(), new)
        self.config = new
        return list(plan.added), list(plan.changed), list(plan.removed)

    def _read_for_update(self) -> Config:
        """The config file again, with the daemon-wide settings as they run."""
        try:
            new = self.read_config()
        except ConfigError as e:
            raise errors.CantReread(str(e)) from None
        running = self.config
        return dataclasses.replace(
            new,
            supervisord=running.supervisord,
            unix_servers=running.unix_servers,
            inet_servers=running.inet_servers,
        )

    def active_config(self) -> Config:
        """The config as it runs: the groups that are active now."""
        return dataclasses.replace(self.config, groups=tuple(g.config for g in self.groups()))

    async def add_group(self, name: str) -> None:
        self._check_running()
        gconf = self.config.group(name)
        if gconf is None:
            raise errors.NoSuchProcess(name)
        if name in self._groups:
            raise errors.AlreadyAdded(name)
        try:
            group = self.activate(gconf)
        except FcgiSocketError as e:
            raise errors.Failed(str(e)) from None
        self.log.info(f"added process group {name}")
        self.events.publish(GroupChanged(name, True))
        await self.spawner.autostart([group])

    async def remove_group(self, name: str) -> None:
        self._check_running()
        group = self._groups.get(name)
        if group is None:
            raise errors.NoSuchProcess(name)
        if any(p.state not in STOPPED_STATES for p in group.processes):
            raise errors.StillRunning(name)
        self.deactivate(name)
        # added again, it starts as configured (4.3's update removes and adds a group)
        self.held -= {p.namespec for p in group.processes}
        self.events.publish(GroupChanged(name, False))
        self.log.info(f"removed process group {name}")

    def plan(self, names: set[str] | None = None) -> list[Step]:
        """What update would do now, changing nothing (the file is read, not kept)."""
        self._check_running()
        return plan_steps(self, self._read_for_update(), names)

    async def update(self, names: set[str] | None = None) -> list[Outcome]:
        """reread, then make the named groups (all when None) match the config with the
        least disruption: per process and key (runtime/update.py)."""
        self._check_running()
        self.config = self._read_for_update()
        return await carry_out(self, plan_steps(self, self.config, names))

    async def scale(self, name: str, count: int) -> list[Outcome]:
        """Run count processes of a program: start only the new ones, or stop the
        highest-numbered (runtime/update.py)."""
        self._check_running()
        return await scale_group(self, name, count)

    async def stop_group(self, name: str) -> None:
        """Stop every process of a group, all at once, and wait until all are stopped."""
        group = self._groups.get(name)
        if group is None:
            raise errors.NoSuchProcess(name)
        procs = [p for p in group.processes if p.state in RUNNING_STATES]
        for proc in procs:
            proc.handle(Ev.STOP)
        await wait_stopped(self, procs, 2.0, "waiting for {} to stop")

    # --- lifecycle -------------------------------------------------------------------------

    def request_shutdown(self, exit_status: int = 0) -> None:
        self.lifecycle.request(DaemonWant.SHUTDOWN, exit_status)

    def request_restart(self) -> None:
        self.lifecycle.request(DaemonWant.RESTART)

    async def run(
        self, serve: ServeFactory | None = None, ready: Callable[[], None] | None = None
    ) -> int:
        """Run until shut down; restarts in place on reload. Returns the exit status."""
        return await self.lifecycle.run(serve, ready)
