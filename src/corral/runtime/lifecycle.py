"""The daemon's life: one config generation after another until shut down, signals, and
stopping everything in order.

What the daemon should do next is state (`DaemonWant`), read after every await, not a
one-shot future: a SIGTERM that arrives while the servers start or while a reload stops the
programs is never lost, and shutdown always wins over restart. Each generation owns its
tasks (autostart, listener restarts) in a `TaskOwner` closed before the next one begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from itertools import groupby
from typing import TYPE_CHECKING, Protocol

from corral.config.model import Config, ConfigError
from corral.runtime import signals
from corral.runtime.eventbus import GroupChanged, SupervisorStateChanged
from corral.runtime.group import FcgiSocketError
from corral.runtime.tasks import TaskOwner
from corral.runtime.transitions import Ev
from corral.wire.states import RUNNING_STATES, STOPPED_STATES, ProcessState, SupervisorState

if TYPE_CHECKING:
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

PR_SET_CHILD_SUBREAPER = 36
LISTENER_SETTLE_SECS = 2.0  # at shutdown, for pools to deliver what they hold
EXIT_REQUESTS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


class Closable(Protocol):
    async def close(self) -> None: ...


# Opened by the daemon (the server layer), handed in so the runtime never imports it.
ServeFactory = Callable[["Supervisor"], Awaitable[Closable]]


def become_subreaper() -> None:
    """Orphans of our programs come to us (as they would to PID 1), so we reap them."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class DaemonWant(IntEnum):
    """Ordered: a later want is never replaced by an earlier one (shutdown wins)."""

    RUN = 0
    RESTART = 1
    SHUTDOWN = 2


class Lifecycle:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.want = DaemonWant.RUN
        self.exit_status = 0
        self._wake: asyncio.Event | None = None
        self._signals: asyncio.Queue[signal.Signals] = asyncio.Queue()
        self.tasks: TaskOwner | None = None  # the current generation's
        self.killed: list[str] = []  # processes SIGKILLed while shutting down

    # --- requests (signals, RPCs) -----------------------------------------------------------

    def request(self, want: DaemonWant, exit_status: int = 0) -> None:
        """Ask for a restart or a shutdown; never undoes a stronger request."""
        if want <= self.want:
            return
        self.want = want
        if want is DaemonWant.SHUTDOWN:
            self.exit_status = exit_status
            self.sup.state = SupervisorState.SHUTDOWN
        if self._wake is not None:
            self._wake.set()

    async def _handle_signals(self) -> None:
        sup = self.sup
        while True:
            sig = await self._signals.get()
            if sig in EXIT_REQUESTS and self.want is DaemonWant.SHUTDOWN:
                # a user pressing Ctrl-C twice: what is left is killed now
                sup.log.warn(f"received {sig.name} again while shutting down: killing what is left")
                self.kill_all()
            elif sig in EXIT_REQUESTS:
                sup.log.warn(f"received {sig.name} indicating exit request")
                self.request(DaemonWant.SHUTDOWN)
            elif sig == signal.SIGHUP:
                if self.want is DaemonWant.SHUTDOWN:
                    sup.log.warn("ignored SIGHUP indicating restart request (shutdown in progress)")
                    continue
                sup.log.warn("received SIGHUP indicating restart request")
                self.request(DaemonWant.RESTART)
            elif sig == signal.SIGUSR2:
                sup.log.info("received SIGUSR2 indicating log reopen request")
                sup.log.info("corrald logreopen")  # the last line in a rotated-away file
                sup.reopen_logs()
            else:
                sup.log.debug(f"received {sig.name}, ignored")

    def kill_all(self) -> None:
        for proc in self.sup.processes():
            if proc.state in RUNNING_STATES:
                proc.handle(Ev.STOP)
            if proc.state is ProcessState.STOPPING:
                proc.handle(Ev.KILL_TIMEOUT)

    def note_killed(self, proc: Process) -> None:
        if self.sup.stopping and proc.name not in self.killed:
            self.killed.append(proc.name)

    def essential_settled(self, proc: Process) -> None:
        """An essential program's events have run: if it has ended for good (exited and
        not restarting, or FATAL), the daemon stops everything and exits with its code.
        A stop the operator asked for is not an end."""
        if self.want is DaemonWant.SHUTDOWN or not proc.wants_up:
            return
        state = proc.state
        if state is ProcessState.FATAL:
            code = proc.last_exit_code() or 1
            why = f"entered FATAL state ({proc.spawnerr or 'too many start retries'})"
        elif state is ProcessState.EXITED and not proc.restart_pending:
            code = proc.last_exit_code()
            why = f"exited ({proc.exit_text}) and will not be restarted"
        else:
            return
        self.sup.log.warn(
            f"essential program {proc.name} {why}: stopping everything, exit status {code}"
        )
        self.request(DaemonWant.SHUTDOWN, code)

    # --- the whole run ------------------------------------------------------------------------

    async def run(self, serve: ServeFactory | None, ready: Callable[[], None] | None) -> int:
        loop = asyncio.get_running_loop()
        sup = self.sup
        self._wake = asyncio.Event()
        become_subreaper()
        sup.reaper.install(loop)
        signals.install(loop, self._signals)
        daemon_tasks = TaskOwner("daemon", sup.log)
        daemon_tasks.spawn(self._handle_signals(), "signals")
        try:
            first = True
            while True:
                new_config = await self._generation(serve, ready if first else None)
                first = False
                if new_config is None:
                    break
                sup.config = new_config
                sup.identifier = new_config.supervisord.identifier
        finally:
            await self._end_orphans()
            await daemon_tasks.close()
            signals.uninstall(loop)
            sup.reaper.reap()
            sup.reaper.uninstall(loop)
            sup.spawner.close()
        if self.exit_status == 0 and self.killed and sup.config.supervisord.container:
            # a container stopped uncleanly says so in its exit code
            self.exit_status = 1
            sup.log.warn(
                f"exit status 1: {', '.join(self.killed)} had to be killed (SIGKILL) "
                "after stopwaitsecs"
            )
        return self.exit_status

    async def _generation(
        self, serve: ServeFactory | None, ready: Callable[[], None] | None
    ) -> Config | None:
        """Run one config until a restart (the new config) or a shutdown (None)."""
        sup = self.sup
        assert self._wake is not None
        if self.want is DaemonWant.RESTART:
            self.want = DaemonWant.RUN
        if self.want is DaemonWant.RUN:
            sup.state = SupervisorState.RUNNING
        sup.output.configure_console()
        self._activate_all(first=ready is not None)
        sup.events.identifier = sup.identifier
        for g in sup.groups():
            sup.events.publish(GroupChanged(g.name, True))
        sup.events.publish(SupervisorStateChanged(True))
        tasks = self.tasks = TaskOwner("generation", sup.log)
        servers: Closable | None = None
        new_config: Config | None = None
        try:
            try:
                # Servers first: the control socket answers while programs start.
                if serve is not None:
                    servers = await serve(sup)
            except BaseException:
                self.want = DaemonWant.SHUTDOWN  # a failed start-up goes no further
                raise
            if ready is not None:
                ready()
            if self.want is DaemonWant.RUN:
                tasks.spawn(sup.spawner.autostart(sup.groups()), "autostart")
            while self.want is not DaemonWant.SHUTDOWN:
                if self.want is DaemonWant.RESTART:
                    try:
                        new_config = sup.read_config()
                        break
                    except ConfigError as e:
                        # Refuse a broken config and keep the programs we have running.
                        sup.log.error(f"could not reload config, keeping the current one: {e}")
                        self.want = DaemonWant.RUN
                self._wake.clear()
                await self._wake.wait()
        finally:
            if self.want is DaemonWant.SHUTDOWN:
                new_config = None
                sup.state = SupervisorState.SHUTDOWN
            else:
                sup.state = SupervisorState.RESTARTING
            sup.events.publish(SupervisorStateChanged(False))
            await tasks.close()
            await self.stop_all_ordered()
            sup.close_groups()
            if servers is not None:
                await servers.close()
        # a shutdown asked for while we were stopping wins over the restart
        if self.want is DaemonWant.SHUTDOWN:
            sup.state = SupervisorState.SHUTDOWN
            new_config = None
        if new_config is None:
            sup.events.close()
        return new_config

    def _activate_all(self, *, first: bool) -> None:
        sup = self.sup
        for gconf in sup.config.groups:
            try:
                sup.activate(gconf)
            except FcgiSocketError as e:
                if first:
                    # at start-up a socket we cannot bind is refused, like an HTTP server's:
                    # better than running on without the group
                    sup.close_groups()
                    raise
                sup.log.error(str(e))

    # --- stopping ---------------------------------------------------------------------------

    async def stop_all_ordered(self) -> None:
        """Stop everything, highest priority first; one priority level at a time, each level
        all at once, so many programs stop fast and dependencies still go down in order."""
        sup = self.sup
        procs = sorted(sup.processes(), key=sup.priority_level, reverse=True)
        if sup.deps:
            # depends_on: dependents first, then what they needed (priority within a round)
            batches = sup.deps.stop_rounds(procs)
        else:
            batches = [list(level) for _, level in groupby(procs, key=sup.priority_level)]
        for batch in batches:
            # Listeners go last (priority -1): let them hear the shutdown first.
            pools = {sup.pools[p.group] for p in batch if p.group in sup.pools}
            if pools:
                await asyncio.gather(*(pool.settle(LISTENER_SETTLE_SECS) for pool in pools))
            for proc in batch:
                if proc.state in RUNNING_STATES:
                    proc.handle(Ev.STOP)
            await wait_stopped(sup, batch, 3.0, "waiting for {} to die")

    async def _end_orphans(self) -> None:
        """Leave nothing behind: descendants that outlived their program get TERM, then KILL."""
        import psutil  # only needed on the way out; keeps start-up lean

        sup = self.sup
        try:
            left = psutil.Process().children(recursive=True)
        except psutil.Error:
            return
        if not left:
            return
        for child in left:
            with contextlib.suppress(psutil.Error):
                sup.log.info(f"terminating leftover process {child.pid} ({child.name()})")
                child.terminate()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            sup.reaper.reap()
            left = [c for c in left if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
            if not left:
                return
            await asyncio.sleep(0.05)
        for child in left:
            with contextlib.suppress(psutil.Error):
                child.kill()
        await asyncio.sleep(0.05)
        sup.reaper.reap()


async def wait_stopped(sup: Supervisor, procs: list[Process], every: float, note: str) -> None:
    """Wait until all of procs are stopped, saying who is still awaited every few seconds
    (a stop can take up to stopwaitsecs; the log shows why we wait)."""
    waiting = [p for p in procs if p.state not in STOPPED_STATES]
    if not waiting:
        return
    loop = asyncio.get_running_loop()
    reminder: list[asyncio.TimerHandle] = []

    def say() -> None:
        names = ", ".join(p.name for p in waiting if p.state not in STOPPED_STATES)
        sup.log.info(note.format(names))
        reminder[:] = [loop.call_later(every, say)]

    # One timer handle, not a wait_for per call: stop all with wait=True runs 500 of these.
    reminder.append(loop.call_later(every, say))
    try:
        for proc in waiting:  # one waiter at a time: a cancelled caller leaves none behind
            await proc.wait_for(lambda q: q.state in STOPPED_STATES)
    finally:
        reminder[0].cancel()
