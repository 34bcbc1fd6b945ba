"""The root of the live daemon: groups, lifecycle, runtime config changes, shutdown.

All state lives on one event loop. Signal handlers and RPCs only ask; this object acts.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import glob
import os
import re
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Protocol

from corral.config import load as load_config
from corral.config.diff import diff as diff_config
from corral.config.model import AUTO, Config, ConfigError, GroupConfig, GroupKind, ProcessConfig
from corral.logs.mainlog import MainLog
from corral.logs.syslogsink import SyslogLines
from corral.runtime import errors, signals
from corral.runtime.eventbus import EventBus, group_event, state_event, supervisor_state_event
from corral.runtime.group import FcgiSocketError, Group, open_fcgi_socket
from corral.runtime.listeners import ListenerPool
from corral.runtime.process import Process
from corral.runtime.reaper import Reaper
from corral.runtime.spawn import (
    Identity,
    Spawned,
    SpawnFailure,
    identity_for,
    resolve_command,
    spawn,
)
from corral.runtime.transitions import Ev
from corral.wire.names import split_namespec
from corral.wire.states import RUNNING_STATES, STOPPED_STATES, ProcessState, SupervisorState

# Opened by the daemon (the server layer), handed in so the runtime never imports it.
ServeFactory = Callable[["Supervisor"], Awaitable["Closable"]]


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of our programs come to us (as they would to PID 1), so we reap them."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


SPAWN_THREADS = 4
LISTENER_SETTLE_SECS = 2.0  # at shutdown, for pools to deliver what they hold


def run_batch(batch: list[tuple[Process, Callable[[], Spawned]]]) -> None:
    """Run spawn jobs side by side on a few threads (the loop waits, as it would for one
    spawn after the other), then hand each outcome back on this thread, in order."""
    if not batch:
        return

    def outcome(job: Callable[[], Spawned]) -> Spawned | SpawnFailure:
        try:
            return job()
        except SpawnFailure as e:
            return e

    jobs = [job for _, job in batch]
    if len(jobs) == 1:
        results = [outcome(jobs[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(SPAWN_THREADS, len(jobs))) as pool:
            results = list(pool.map(outcome, jobs))
    for (proc, _), result in zip(batch, results, strict=True):
        proc.spawn_done(result)


class Closable(Protocol):
    async def close(self) -> None: ...


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
        self._groups: dict[str, Group] = {}
        self._identities: dict[int, Identity] = {}
        self._signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self._mood: asyncio.Future[str] | None = None
        self.events = EventBus(self.identifier, mainlog)
        self.pools: dict[str, ListenerPool[Process]] = {}
        self._restarts: set[asyncio.Task[None]] = set()
        # while not None, processes queue their spawn here instead of forking at once
        self.spawn_batch: list[tuple[Process, Callable[[], Spawned]]] | None = None

    # --- read-only views -------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self.state != SupervisorState.RUNNING

    @property
    def mainlog_path(self) -> str | None:
        return self.log.path

    @property
    def server_url(self) -> str | None:
        for unix in self.config.unix_servers:
            return f"unix://{unix.file}"
        for inet in self.config.inet_servers:
            return f"http://{inet.host or 'localhost'}:{inet.port}"
        return None

    def groups(self) -> list[Group]:
        return sorted(self._groups.values(), key=lambda g: (g.config.priority, g.name))

    def processes(self) -> list[Process]:
        return sorted(
            (p for g in self._groups.values() for p in g.processes), key=lambda p: (p.group, p.name)
        )

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

    # --- helpers for processes ---------------------------------------------------------

    def identity(self, uid: int | None) -> Identity | None:
        if uid is None:
            return None
        ident = self._identities.get(uid)
        if ident is None:
            ident = self._identities[uid] = identity_for(uid)
        return ident

    def child_env(self, proc: Process) -> dict[str, str]:
        from corral.runtime.spawn import child_environment

        return child_environment(
            proc.config,
            proc.group,
            base=os.environ,
            daemon_env=self.config.supervisord.environment,
            server_url=self.server_url,
            identity=self.identity(proc.config.uid),
        )

    def fcgi_socket_fd(self, group: str) -> int | None:
        g = self._groups.get(group)
        if g is None or g.fcgi_socket is None:
            return None
        return g.fcgi_socket.fileno()

    def output_hooks(
        self, proc: Process, channel: str
    ) -> tuple[Callable[[bytes], None] | None, Callable[[], None] | None]:
        """What else wants a child's bytes besides its log file (None keeps zero-copy), and
        what to tell when the pipe ends."""
        hooks: list[Callable[[bytes], None]] = []
        on_end: Callable[[], None] | None = None
        pool = self.pools.get(proc.group)
        ch = proc.config.stdout if channel == "stdout" else proc.config.stderr
        if pool is not None and channel == "stdout":
            # a listener's stdout is its protocol channel: never an event, never syslogged
            hooks.append(lambda d: pool.feed(proc, d))
        else:
            if ch.events_enabled:
                hooks.append(lambda d: self.events.publish_output(proc, channel, d))
            if ch.syslog:
                lines = SyslogLines(proc.name)
                hooks.append(lines)
                on_end = lines.end
        if self.log.is_enabled("debug"):
            hooks.append(self._debug_copy(proc, channel))
        if not hooks:
            return None, on_end
        if len(hooks) == 1:
            return hooks[0], on_end

        def all_(data: bytes) -> None:
            for h in hooks:
                h(data)

        return all_, on_end

    def is_listener(self, proc: Process) -> bool:
        return proc.group in self.pools

    def publish_remote(self, type_: str, data: str) -> None:
        self.events.publish_remote(type_, data)

    def _restart_listener(self, proc: Process) -> None:
        async def again() -> None:
            if proc.state in RUNNING_STATES:
                proc.handle(Ev.STOP)
                await proc.wait_for(lambda p: p.state in STOPPED_STATES)
            if not self.stopping:
                proc.handle(Ev.START)

        task = asyncio.get_running_loop().create_task(again())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    def _debug_copy(self, proc: Process, channel: str) -> Callable[[bytes], None]:

        def copy(data: bytes) -> None:
            if not data:
                return
            text = data.decode("utf-8", "replace")
            self.log.debug(f"{proc.name!r} {channel} output:\n{text}")

        return copy

    def _on_change(self, proc: Process, old: ProcessState, new: ProcessState) -> None:
        """Hook for events (PROCESS_STATE_*); see eventbus."""
        pool = self.pools.get(proc.group)
        if pool is not None:
            pool.on_state_change(proc, old, new)
        self.events.publish(state_event(proc, old, new))

    # --- groups ---------------------------------------------------------------------

    def _log_path(self, pconf: ProcessConfig, channel: str) -> str | None:
        ch = pconf.stdout if channel == "stdout" else pconf.stderr
        if ch.logfile != AUTO:
            return ch.logfile
        if channel == "stderr" and pconf.redirect_stderr:
            return None
        fd, path = tempfile.mkstemp(
            prefix=f"{pconf.name}-{channel}---{self.identifier}-",
            suffix=".log",
            dir=self.config.supervisord.childlogdir,
        )
        os.close(fd)
        return path

    def _activate(self, gconf: GroupConfig) -> Group:
        sock: socket.socket | None = None
        if gconf.fcgi_socket is not None:
            sock = open_fcgi_socket(gconf.fcgi_socket)
        procs = []
        for pconf in gconf.processes:
            proc = Process(
                self,
                gconf.name,
                pconf,
                self._log_path(pconf, "stdout"),
                self._log_path(pconf, "stderr"),
            )
            proc.on_change = self._on_change
            procs.append(proc)
        group = Group(gconf, procs, sock)
        self._groups[gconf.name] = group
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

    def spawn_job(self, proc: Process) -> Callable[[], Spawned]:
        """What to run to start proc's child: everything it needs is read here, on the loop
        thread, so the job itself touches no shared state and may run on a worker thread."""
        cfg = proc.config
        env = self.child_env(proc)
        identity = self.identity(cfg.uid)
        sock = self.fcgi_socket_fd(proc.group)

        def job() -> Spawned:
            proc.open_logs()  # creating files is slow on some disks: worth doing side by side
            return spawn(cfg, env, identity=identity, stdin_socket=sock)

        return job

    def _autostart(self, groups: Iterable[Group]) -> None:
        """Start every autostart process, one priority level after the other; within a
        level the forks run side by side (each waits ~1 ms for its child's exec)."""
        todo = [
            p
            for g in sorted(groups, key=lambda g: (g.config.priority, g.name))
            for p in g.processes
            if p.config.autostart and p.state == ProcessState.STOPPED
        ]

        def level(p: Process) -> tuple[int, int]:
            return (self._groups[p.group].config.priority, p.config.priority)

        for _, procs in groupby(todo, key=level):
            self.spawn_batch = []
            try:
                for proc in procs:
                    proc.handle(Ev.START)
            finally:
                batch, self.spawn_batch = self.spawn_batch, None
            run_batch(batch)

    def cleanup_auto_logs(self) -> None:
        sd = self.config.supervisord
        if sd.nocleanup:
            return
        pattern = re.compile(r".+---" + re.escape(self.identifier) + r"-\S+\.log(\.\d+)?$")
        for path in glob.glob(os.path.join(glob.escape(sd.childlogdir), "*")):
            if pattern.match(os.path.basename(path)):
                try:
                    os.unlink(path)
                except OSError:
                    pass

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
            raise errors.NotExecutable(e.message) from None
        proc.handle(Ev.START)
        if not wait:
            return
        await proc.wait_for(lambda p: p.state not in (ProcessState.STARTING, ProcessState.BACKOFF))
        if proc.state == ProcessState.RUNNING:
            return
        if proc.state == ProcessState.FATAL:
            raise errors.SpawnError(proc.namespec)
        raise errors.AbnormalTermination(proc.namespec)

    async def stop(self, proc: Process, wait: bool = True) -> None:
        if proc.state not in RUNNING_STATES:
            raise errors.NotRunning(proc.namespec)
        proc.handle(Ev.STOP)
        if wait:
            await self._wait_stopped([proc], 2.0, "waiting for {} to stop")

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

    def _read_config(self) -> Config:
        return load_config(self.config.path, overrides=self.overrides)

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        self._check_running()
        try:
            new = self._read_config()
        except ConfigError as e:
            raise errors.CantReread(str(e)) from None
        # Daemon-wide settings only change on a full reload; groups change on reread.
        running = self.config
        new = dataclasses.replace(
            new,
            supervisord=running.supervisord,
            unix_servers=running.unix_servers,
            inet_servers=running.inet_servers,
        )
        active = dataclasses.replace(running, groups=tuple(g.config for g in self.groups()))
        plan = diff_config(active, new)
        self.config = new
        return list(plan.added), list(plan.changed), list(plan.removed)

    async def add_group(self, name: str) -> None:
        self._check_running()
        gconf = self.config.group(name)
        if gconf is None:
            raise errors.NoSuchProcess(name)
        if name in self._groups:
            raise errors.AlreadyAdded(name)
        try:
            group = self._activate(gconf)
        except FcgiSocketError as e:
            raise errors.Failed(str(e)) from None
        self.log.info(f"added process group {name}")
        self.events.publish(group_event(name, added=True))
        self._autostart([group])

    async def remove_group(self, name: str) -> None:
        self._check_running()
        group = self._groups.get(name)
        if group is None:
            raise errors.NoSuchProcess(name)
        if any(p.state not in STOPPED_STATES for p in group.processes):
            raise errors.StillRunning(name)
        del self._groups[name]
        group.close()
        pool = self.pools.pop(name, None)
        if pool is not None:
            pool.close()
        self.events.publish(group_event(name, added=False))
        self.log.info(f"removed process group {name}")

    # --- lifecycle -------------------------------------------------------------------------

    def request_shutdown(self) -> None:
        if self._mood is not None and not self._mood.done():
            self.state = SupervisorState.SHUTDOWN
        self._set_mood("shutdown")

    def request_restart(self) -> None:
        self._set_mood("restart")

    def _set_mood(self, mood: str) -> None:
        if self._mood is not None and not self._mood.done():
            self._mood.set_result(mood)

    async def stop_all_ordered(self) -> None:
        """Stop everything, highest priority first; one priority level at a time, each level
        all at once, so many programs stop fast and dependencies still go down in order."""
        procs = sorted(
            self.processes(),
            key=lambda p: (self._groups[p.group].config.priority, p.config.priority),
            reverse=True,
        )

        def key(p: Process) -> tuple[int, int]:
            return (self._groups[p.group].config.priority, p.config.priority)

        for _, level in groupby(procs, key=key):
            batch = list(level)
            # Listeners go last (priority -1): let them hear the shutdown first.
            pools = {self.pools[p.group] for p in batch if p.group in self.pools}
            if pools:
                await asyncio.gather(*(pool.settle(LISTENER_SETTLE_SECS) for pool in pools))
            for proc in batch:
                if proc.state in RUNNING_STATES:
                    proc.handle(Ev.STOP)
            await self._wait_stopped(batch, 3.0, "waiting for {} to die")

    async def _wait_stopped(self, procs: list[Process], every: float, note: str) -> None:
        """Wait until all of procs are stopped, saying who is still awaited every few
        seconds (a stop can take up to stopwaitsecs; the log shows why we wait)."""
        waiting = [p for p in procs if p.state not in STOPPED_STATES]
        if not waiting:
            return
        loop = asyncio.get_running_loop()
        reminder: list[asyncio.TimerHandle] = []

        def say() -> None:
            names = ", ".join(p.name for p in waiting if p.state not in STOPPED_STATES)
            self.log.info(note.format(names))
            reminder[:] = [loop.call_later(every, say)]

        # One timer handle, not a wait_for per call: stop all with wait=True runs 500 of these.
        reminder.append(loop.call_later(every, say))
        try:
            for proc in waiting:  # one waiter at a time: a cancelled caller leaves none behind
                await proc.wait_for(lambda q: q.state in STOPPED_STATES)
        finally:
            reminder[0].cancel()

    async def _end_orphans(self) -> None:
        """Leave nothing behind: descendants that outlived their program get TERM, then KILL."""
        import psutil  # only needed on the way out; keeps start-up lean

        try:
            left = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        if not left:
            return
        for child in left:
            with contextlib.suppress(psutil.Error):
                self.log.info(f"terminating leftover process {child.pid} ({child.name()})")
                child.terminate()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            self.reaper.reap()
            left = [c for c in left if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
            if not left:
                return
            await asyncio.sleep(0.05)
        for child in left:
            with contextlib.suppress(psutil.Error):
                child.kill()
        await asyncio.sleep(0.05)
        self.reaper.reap()

    async def _handle_signals(self) -> None:
        while True:
            sig = await self._signals.get()
            if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                self.log.warn(f"received {sig.name} indicating exit request")
                self.request_shutdown()
            elif sig == signal.SIGHUP:
                if self.stopping:
                    self.log.warn(
                        "ignored SIGHUP indicating restart request (shutdown in progress)"
                    )
                    continue
                self.log.warn("received SIGHUP indicating restart request")
                self.request_restart()
            elif sig == signal.SIGUSR2:
                self.log.info("received SIGUSR2 indicating log reopen request")
                self.log.info("corrald logreopen")  # the last line in a rotated-away file
                self.reopen_logs()
            else:
                self.log.debug(f"received {sig.name}, ignored")

    async def run(
        self, serve: ServeFactory | None = None, ready: Callable[[], None] | None = None
    ) -> int:
        """Run until shut down; restarts in place on reload. Returns the exit status."""
        loop = asyncio.get_running_loop()
        become_subreaper()
        self.reaper.install(loop)
        signals.install(loop, self._signals)
        # This task is owned here: started with the loop, cancelled and awaited on the way out.
        sig_task = asyncio.create_task(self._handle_signals())
        try:
            await self._serve_until_exit(serve, ready)
        finally:
            await self._end_orphans()
            sig_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sig_task
            signals.uninstall(loop)
            self.reaper.reap()
            self.reaper.uninstall(loop)
        return 0

    async def _serve_until_exit(
        self, serve: ServeFactory | None, ready: Callable[[], None] | None
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.state = SupervisorState.RUNNING
            for gconf in self.config.groups:
                try:
                    self._activate(gconf)
                except FcgiSocketError as e:
                    if ready is not None:
                        # at start-up a socket we cannot bind is refused, like an HTTP
                        # server's: better than running on without the group
                        for group in list(self._groups.values()):
                            group.close()
                        self._groups.clear()
                        raise
                    self.log.error(str(e))
            self.events.identifier = self.identifier
            for g in self.groups():
                self.events.publish(group_event(g.name, added=True))
            self.events.publish(supervisor_state_event(running=True))
            self._autostart(self._groups.values())
            # Programs first, then the HTTP servers: their sockets are already bound and
            # listening (the daemon did that before spawning), so early clients just wait.
            try:
                servers = await serve(self) if serve is not None else None
            except BaseException:
                self.state = SupervisorState.SHUTDOWN
                await self.stop_all_ordered()
                for group in list(self._groups.values()):
                    group.close()
                self._groups.clear()
                raise
            if ready is not None:
                ready()
                ready = None
            new_config: Config | None = None
            while True:
                self._mood = loop.create_future()
                mood = await self._mood
                if mood == "shutdown":
                    break
                try:
                    new_config = self._read_config()
                    break
                except ConfigError as e:
                    # Refuse a broken config and keep the programs we have running.
                    self.log.error(f"could not reload config, keeping the current one: {e}")
            self.state = (
                SupervisorState.SHUTDOWN if new_config is None else SupervisorState.RESTARTING
            )
            self.events.publish(supervisor_state_event(running=False))
            await self.stop_all_ordered()
            for pool in self.pools.values():
                pool.close()
            self.pools.clear()
            for group in list(self._groups.values()):
                group.close()
            self._groups.clear()
            if servers is not None:
                await servers.close()
            if new_config is None:
                for task in self._restarts:
                    task.cancel()
                self.events.close()
                return
            self.config = new_config
            self.identifier = new_config.supervisord.identifier
