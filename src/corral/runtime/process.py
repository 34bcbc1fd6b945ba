"""One supervised process: its state, its child, its logs; transitions come from `transitions.py`.

Everything runs on the event loop thread and `handle()` never awaits, so a process changes
state in one place, one event at a time. Waiters (RPC `wait=True`) await a future that is
resolved on each change; nothing polls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from corral.config.model import AutoRestart, ProcessConfig
from corral.logs.capture import InputPipe, OutputPump
from corral.logs.rotating import RotatingFile
from corral.runtime.reaper import describe_status
from corral.runtime.spawn import Spawned, SpawnFailure
from corral.runtime.transitions import Act, Ev, lookup
from corral.wire.names import make_namespec
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor

S = ProcessState


class Process:
    def __init__(
        self,
        sup: Supervisor,
        group: str,
        config: ProcessConfig,
        stdout_logfile: str | None,
        stderr_logfile: str | None,
    ) -> None:
        self.sup = sup
        self.group = group
        self.config = config
        self.name = config.name
        self.namespec = make_namespec(group, config.name)
        self.state = S.STOPPED
        self.pid = 0
        self.laststart = 0.0
        self.laststop = 0.0
        self.spawnerr = ""
        self.exitstatus = 0
        self.tries = 0  # consecutive failed starts, the backoff delay in seconds
        self.stdout_logfile = stdout_logfile
        self.stderr_logfile = stderr_logfile
        # opened at the first spawn (by the spawn job, possibly on a worker thread), then
        # kept open across restarts
        self.stdout_sink: RotatingFile | None = None
        self.stderr_sink: RotatingFile | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        self._stdin: InputPipe | None = None
        self._pumps: set[OutputPump] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self.on_change: Callable[[Process, ProcessState, ProcessState], None] | None = None

    # --- the state machine -------------------------------------------------------------

    def handle(self, event: Ev) -> bool:
        """Apply one event; False when it means nothing in the current state."""
        row = lookup(self.state, event)
        if row is None:
            return False
        old = self.state
        self.state = row.to
        if old != row.to:
            self._changed(old, row.to)
        for act in row.actions:
            self._ACTIONS[act](self)
        return True

    def _changed(self, old: ProcessState, new: ProcessState) -> None:
        waiters, self._waiters = self._waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        if self.on_change is not None:
            self.on_change(self, old, new)

    async def wait_for(self, predicate: Callable[[Process], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not predicate(self):
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            await fut

    # --- actions -----------------------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, delay: float, event: Ev) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire, event)

    def _fire(self, event: Ev) -> None:
        self._timer = None
        self.handle(event)

    def _reset_tries(self) -> None:
        self.tries = 0

    def _spawn(self) -> None:
        self.laststart = time.time()
        self.spawnerr = ""
        job = self.sup.spawn_job(self)
        if self.sup.spawn_batch is not None:
            # the supervisor is starting many at once: it runs the jobs side by side and
            # hands each outcome back through spawn_done, in order
            self.sup.spawn_batch.append((self, job))
            return
        try:
            outcome: Spawned | SpawnFailure = job()
        except SpawnFailure as e:
            outcome = e
        self.spawn_done(outcome)

    def open_logs(self) -> None:
        """Open the log files if not yet open; SpawnFailure when one cannot be."""
        for attr, path, ch in (
            ("stdout_sink", self.stdout_logfile, self.config.stdout),
            ("stderr_sink", self.stderr_logfile, self.config.stderr),
        ):
            if path is None or getattr(self, attr) is not None:
                continue
            try:
                setattr(self, attr, RotatingFile(path, ch.maxbytes, ch.backups))
            except OSError as e:
                raise SpawnFailure(f"can't open log file {path}: {e.strerror}") from None

    def spawn_done(self, outcome: Spawned | SpawnFailure) -> None:
        sup = self.sup
        if isinstance(outcome, SpawnFailure):
            self.spawnerr = outcome.message
            sup.log.info(f"spawnerr: {outcome.message}")
            self.handle(Ev.SPAWN_FAILED)
            return
        self._attach(outcome)
        sup.log.info(f"spawned: {self.name!r} with pid {self.pid}")
        if self.config.startsecs <= 0:
            self.handle(Ev.STARTED)
        else:
            self._arm(self.config.startsecs, Ev.STARTED)

    def _attach(self, child: Spawned) -> None:
        self._popen = child.popen
        self.pid = child.popen.pid
        self.sup.reaper.watch(self.pid, self._on_exit)
        for fd, sink, channel in (
            (child.stdout_fd, self.stdout_sink, "stdout"),
            (child.stderr_fd, self.stderr_sink, "stderr"),
        ):
            if fd is not None:
                self._start_pump(fd, sink, channel)
        self._stdin = InputPipe(child.stdin_fd) if child.stdin_fd is not None else None

    def _start_pump(self, fd: int, sink: RotatingFile | None, channel: str) -> None:
        ch = self.config.stdout if channel == "stdout" else self.config.stderr
        protocol = channel == "stdout" and self.sup.is_listener(self)

        def eof() -> None:
            self._pumps.discard(pump)

        on_data, on_end = self.sup.output_hooks(self, channel)
        pump = OutputPump(
            fd,
            sink,
            on_eof=eof,
            on_data=on_data,
            on_end=on_end,
            capture_maxbytes=0 if protocol else ch.capture_maxbytes,
            on_capture=lambda body: self.sup.events.publish_capture(self, channel, body),
            strip_ansi=self.sup.config.supervisord.strip_ansi,
        )
        self._pumps.add(pump)
        pump.start()

    def _arm_retry(self) -> None:
        self.tries += 1
        if self.tries > self.config.startretries or self.sup.stopping:
            self.handle(Ev.GIVE_UP)
        else:
            self._arm(self.tries, Ev.RETRY)

    def _note_too_quick(self) -> None:
        # an exit before startsecs is a failed start whatever the code, as in 4.3
        self.spawnerr = "Exited too quickly (process log may have details)"
        self.exitstatus = 0  # a failed start has no exit status (4.3 shows 0, also once stopped)
        self.sup.log.warn(f"exited: {self.name} ({self._last_status[1]}; not expected)")

    def _send(self, sig: int, as_group: bool) -> None:
        if not self.pid:
            return
        try:
            if as_group:
                os.killpg(self.pid, sig)
            else:
                os.kill(self.pid, sig)
        except ProcessLookupError:
            pass  # already gone; the reaper will tell us
        except OSError as e:
            self.sup.log.critical(f"unknown problem killing {self.name} ({self.pid}):{e}")
            self.handle(Ev.SIGNAL_ERROR)

    def _send_stop(self) -> None:
        cfg = self.config
        self.sup.log.debug(
            f"killing {self.name} (pid {self.pid}) with signal "
            f"{signal.Signals(cfg.stopsignal).name}"
        )
        self._arm(cfg.stopwaitsecs, Ev.KILL_TIMEOUT)
        self._send(cfg.stopsignal, cfg.stopasgroup)

    def _send_kill(self) -> None:
        self.sup.log.warn(f"killing {self.name!r} ({self.pid}) with SIGKILL")
        self._send(signal.SIGKILL, self.config.killasgroup)

    def _log_exit(self) -> None:
        code, text = self._last_status
        expected = code in self.config.exitcodes and code != -1
        if expected:
            self.sup.log.info(f"exited: {self.name} ({text}; expected)")
        else:
            self.spawnerr = f"Bad exit code {code}"
            self.sup.log.warn(f"exited: {self.name} ({text}; not expected)")
        policy = self.config.autorestart
        if self.sup.stopping or policy is AutoRestart.NEVER:
            return
        if policy is AutoRestart.ALWAYS or not expected:
            self.handle(Ev.AUTORESTART)

    def _log_stopped(self) -> None:
        code, text = self._last_status
        if code in self.config.exitcodes and code != -1:
            self.sup.log.info(f"stopped: {self.name} ({text})")
        else:
            self.sup.log.warn(f"stopped: {self.name} ({text})")

    def _log_running(self) -> None:
        self.sup.log.info(
            f"success: {self.name} entered RUNNING state, process has stayed up for > than "
            f"{self.config.startsecs} seconds (startsecs)"
        )

    def _log_fatal(self) -> None:
        self.sup.log.info(
            f"gave up: {self.name} entered FATAL state, too many start retries too quickly"
        )

    _ACTIONS: dict[Act, Callable[[Process], None]] = {
        Act.SPAWN: _spawn,
        Act.RESET_TRIES: _reset_tries,
        Act.CANCEL_TIMER: _cancel_timer,
        Act.ARM_RETRY: _arm_retry,
        Act.SEND_STOP: _send_stop,
        Act.SEND_KILL: _send_kill,
        Act.LOG_EXIT: _log_exit,
        Act.LOG_STOPPED: _log_stopped,
        Act.LOG_RUNNING: _log_running,
        Act.LOG_FATAL: _log_fatal,
        Act.NOTE_TOO_QUICK: _note_too_quick,
    }

    # --- the child's end -----------------------------------------------------------------

    _last_status: tuple[int, str] = (0, "")

    def _on_exit(self, status: int) -> None:
        """Called by the reaper with the raw wait status."""
        if self._popen is not None:
            self._popen.returncode = status  # so Popen never waits on a pid we reaped
            self._popen = None
        # Everything the child wrote before dying goes to the log before we say it exited.
        for pump in list(self._pumps):
            pump.drain()
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None
        self._last_status = describe_status(status)
        self.exitstatus = self._last_status[0]
        self.laststop = time.time()
        self.pid = 0
        self.handle(Ev.EXIT)

    def write_stdin(self, data: bytes) -> None:
        if self._stdin is None:
            raise BrokenPipeError("stdin closed")
        self._stdin.write(data)

    def signal(self, sig: int) -> None:
        if not self.pid:
            return
        os.kill(self.pid, sig)

    def reopen_logs(self) -> None:
        for sink in (self.stdout_sink, self.stderr_sink):
            if sink is not None:
                sink.reopen()

    def close(self) -> None:
        """Release files and pipes; the process must be stopped."""
        self._cancel_timer()
        for pump in list(self._pumps):
            pump.close()
        self._pumps.clear()
        for sink in (self.stdout_sink, self.stderr_sink):
            if sink is not None:
                sink.close()
