"""One supervised process: its state and want, its child, its timers; rows come from
`transitions.py`, and this module only carries out what they name.

Everything runs on the event loop thread and nothing here awaits. Events are queued and run
to completion one at a time, so an action that reports an outcome (a spawn that failed, a
signal that could not be sent) never re-enters the machine in the middle of a row. Waiters
(RPC `wait=True`) await a future resolved on each change; nothing polls.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from corral.config.convert import signal_name
from corral.config.model import AutoRestart, ProcessConfig
from corral.config.supervision import DEFAULT_SUPERVISION
from corral.logs.capture import InputPipe, OutputPump
from corral.logs.rotating import RotatingFile
from corral.runtime.reaper import describe_status
from corral.runtime.spawn import Spawned, SpawnFailure
from corral.runtime.transitions import Act, Ev, Row, StopReason, Timer, choose
from corral.runtime.watch import Watch, extended_info, starting_note
from corral.runtime.watch_acts import WATCH_ACTIONS
from corral.wire.names import make_namespec
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor

S = ProcessState


class Want(Enum):
    """What the operator wants, apart from what the process is (runit's want up/down)."""

    DOWN = "down"
    UP = "up"


StateHook = Callable[["Process", ProcessState, ProcessState], None]


class Process:
    # thousands of these live in one daemon: no per-instance dict
    __slots__ = (
        "_pumps",
        "_queue",
        "_stdin",
        "_timers",
        "_waiters",
        "config",
        "exit_expected",
        "exit_text",
        "exitstatus",
        "group",
        "laststart",
        "laststop",
        "name",
        "namespec",
        "on_change",
        "pid",
        "restarts",
        "spawnerr",
        "state",
        "stderr_logfile",
        "stderr_sink",
        "stdout_logfile",
        "stdout_sink",
        "sup",
        "tries",
        "wait_status",
        "want",
        "watch",
    )

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
        self.want = Want.DOWN
        self.pid = 0
        self.laststart = 0.0
        self.laststop = 0.0
        self.spawnerr = ""
        self.exitstatus = 0
        self.exit_expected = True
        self.exit_text = ""
        self.tries = 0  # consecutive failed starts
        self.restarts = 0  # automatic restarts since the daemon started (not the operator's)
        self.wait_status: int | None = None  # the last child's raw wait status
        # readiness, health and dependencies: only for sections that use corral's keys
        self.watch = None if config.supervision == DEFAULT_SUPERVISION else Watch()
        self.stdout_logfile = stdout_logfile
        self.stderr_logfile = stderr_logfile
        # opened at the first spawn (by the spawn job, possibly on a worker thread), then
        # kept open across restarts
        self.stdout_sink: RotatingFile | None = None
        self.stderr_sink: RotatingFile | None = None
        self.on_change: StateHook | None = None
        self._timers: dict[Timer, asyncio.TimerHandle] | None = None
        self._stdin: InputPipe | None = None
        self._pumps: list[OutputPump] = []
        self._waiters: list[asyncio.Future[None]] | None = None
        self._queue: deque[Ev] | None = None  # not None while events are being run

    # --- facts the guards read (transitions.Facts) ---------------------------------------

    @property
    def startretries(self) -> int:
        return self.config.startretries

    @property
    def startsecs(self) -> int:
        return self.config.startsecs

    @property
    def autorestart(self) -> AutoRestart:
        return self.config.autorestart

    @property
    def shutting_down(self) -> bool:
        return self.sup.stopping

    @property
    def wants_ready_check(self) -> bool:
        return self.config.supervision.ready_check is not None

    @property
    def wants_up(self) -> bool:
        return self.want is Want.UP

    @property
    def deps_unmet(self) -> bool:
        return self.watch is not None and self.sup.deps.unmet(self)

    @property
    def waiting_for_deps(self) -> bool:
        return self.watch is not None and bool(self.watch.waiting_for) and not self.pid

    @property
    def stop_reason(self) -> StopReason:
        return self.watch.stop_reason if self.watch is not None else StopReason.NONE

    @property
    def health_action(self) -> str:
        return self.config.supervision.health_action

    @property
    def restart_delay(self) -> float:
        return self.config.supervision.restart_delay

    @property
    def restart_pending(self) -> bool:
        return self.timer_armed(Timer.RESTART)

    @property
    def stayed_up(self) -> bool:
        """The child that just exited had run for startsecs (no ready_check decides)."""
        return (
            not self.wants_ready_check
            and self.laststart > 0
            and self.laststop - self.laststart >= self.config.startsecs
        )

    # --- the state machine -------------------------------------------------------------

    def handle(self, event: Ev) -> None:
        """Queue one event and, unless events are already being run, run the queue."""
        if self._queue is not None:
            self._queue.append(event)
            return
        queue = self._queue = deque((event,))
        try:
            while queue:
                self._step(queue.popleft())
        finally:
            self._queue = None
        if self.config.output.essential:
            self.sup.lifecycle.essential_settled(self)

    def _step(self, event: Ev) -> None:
        if event is Ev.START:
            self.want = Want.UP
        elif event is Ev.STOP:
            self.want = Want.DOWN
        row = choose(self.state, event, self)
        if row is None:
            return
        self._run(row)

    def _run(self, row: Row) -> None:
        for act in row.prepare:
            self._ACTIONS[act](self)
        old = self.state
        if old != row.to:
            self.state = row.to
            self._leave(old)
            self._release(old)
            self._changed(old, row.to)
        for act in row.actions:
            self._ACTIONS[act](self)
        if old != row.to:
            # after the row's actions, so the log says 'success: db ...' before the
            # dependent's 'spawned:' line
            self.sup.deps.changed(self)
        if row.then is not None:
            assert self._queue is not None
            self._queue.append(row.then)

    def _leave(self, old: ProcessState) -> None:
        """Timers belong to the state that armed them: leaving it cancels them."""
        timers = self._timers
        if not timers:
            return
        for slot in [t for t in timers if t.state == old]:
            timers.pop(slot).cancel()

    def _release(self, old: ProcessState) -> None:
        if self.watch is not None:
            self.watch.left(old)

    def _changed(self, old: ProcessState, new: ProcessState) -> None:
        waiters, self._waiters = self._waiters, None
        for fut in waiters or ():
            if not fut.done():
                fut.set_result(None)
        if self.on_change is not None:
            self.on_change(self, old, new)

    async def wait_for(self, predicate: Callable[[Process], bool]) -> None:
        loop = asyncio.get_running_loop()
        while not predicate(self):
            fut: asyncio.Future[None] = loop.create_future()
            if self._waiters is None:
                self._waiters = []
            self._waiters.append(fut)
            await fut

    def timer_armed(self, slot: Timer) -> bool:
        return self._timers is not None and slot in self._timers

    # --- timers --------------------------------------------------------------------------

    def arm(self, slot: Timer, delay: float) -> None:
        """(Re)arm a timer slot; it goes when the process leaves the slot's state."""
        self._arm(slot, delay)

    def cancel_timer(self, slot: Timer) -> None:
        if self._timers is not None:
            handle = self._timers.pop(slot, None)
            if handle is not None:
                handle.cancel()

    def pumps(self) -> list[OutputPump]:
        return list(self._pumps)

    def _arm(self, slot: Timer, delay: float) -> None:
        if self._timers is None:
            self._timers = {}
        old = self._timers.pop(slot, None)
        if old is not None:
            old.cancel()
        self._timers[slot] = asyncio.get_running_loop().call_later(delay, self._fire, slot)

    def _fire(self, slot: Timer) -> None:
        if self._timers is not None:
            self._timers.pop(slot, None)
        event = slot.value[1]
        if event is not None:
            self.handle(event)

    def _cancel_timers(self) -> None:
        for handle in (self._timers or {}).values():
            handle.cancel()
        self._timers = None

    # --- bookkeeping (a row's `prepare`) ---------------------------------------------------

    def _reset_tries(self) -> None:
        self.tries = 0

    def _count_try(self) -> None:
        self.tries += 1

    def _note_too_quick(self) -> None:
        # an exit before startsecs is a failed start whatever the code, as in 4.3
        self.spawnerr = "Exited too quickly (process log may have details)"
        self.exitstatus = 0  # a failed start has no exit status (4.3 shows 0, also once stopped)

    def _note_bad_exit(self) -> None:
        if not self.exit_expected:
            self.spawnerr = f"Bad exit code {self.exitstatus}"

    # --- I/O (a row's `actions`) -----------------------------------------------------------

    def _spawn(self) -> None:
        self.laststart = time.time()
        self.spawnerr = ""
        self.wait_status = None
        self.sup.spawner.spawn(self)

    def spawn_done(self, outcome: Spawned | SpawnFailure) -> None:
        """The outcome of the spawn started by SPAWN, on the loop thread."""
        if isinstance(outcome, SpawnFailure):
            if self.watch is not None:
                self.watch.child_gone()
            self.spawnerr = outcome.message
            self.sup.log.info(f"spawnerr: {outcome.message}")
            if outcome.kind == "fds" and not self._pumps:  # refused for want of fds: hold none
                self.close_logs()
            self.handle(Ev.SPAWN_FAILED)
            return
        self.pid = outcome.pid
        self.sup.reaper.watch(self.pid, self._on_exit)
        self._pumps = self.sup.output.attach(self, outcome)
        self._stdin = InputPipe(outcome.stdin_fd) if outcome.stdin_fd is not None else None
        self.handle(Ev.SPAWNED)
        self.sup.deps.changed(self)  # `started` dependencies hold from here

    def pump_ended(self, pump: OutputPump) -> None:
        if pump in self._pumps:
            self._pumps.remove(pump)

    def _log_spawned(self) -> None:
        self.sup.log.info(f"spawned: {self.name!r} with pid {self.pid}")

    def _arm_startsecs(self) -> None:
        self._arm(Timer.STARTSECS, self.config.startsecs)

    def _arm_backoff(self) -> None:
        self._arm(Timer.BACKOFF, self.config.supervision.backoff_delay(self.tries))

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
        if self.pid:
            self.sup.log.debug(
                f"killing {self.name} (pid {self.pid}) with signal {signal_name(cfg.stopsignal)}"
            )
        self._arm(Timer.STOP, cfg.stopwaitsecs)
        self._send(cfg.stopsignal, cfg.stopasgroup)

    def _send_kill(self) -> None:
        self.sup.log.warn(f"killing {self.name!r} ({self.pid}) with SIGKILL")
        self.sup.lifecycle.note_killed(self)
        self._send(signal.SIGKILL, self.config.killasgroup)

    def _forget_child(self) -> None:
        self.pid = 0
        if self.watch is not None:
            self.watch.child_gone()

    def _log_exit(self) -> None:
        if self.exit_expected:
            self.sup.log.info(f"exited: {self.name} ({self.exit_text}; expected)")
        else:
            self.sup.log.warn(f"exited: {self.name} ({self.exit_text}; not expected)")

    def _log_too_quick(self) -> None:
        self.sup.log.warn(f"exited: {self.name} ({self.exit_text}; not expected)")

    def _log_stopped(self) -> None:
        if self.exit_expected:
            self.sup.log.info(f"stopped: {self.name} ({self.exit_text})")
        else:
            self.sup.log.warn(f"stopped: {self.name} ({self.exit_text})")

    def _log_running(self) -> None:
        self.sup.log.info(
            f"success: {self.name} entered RUNNING state, process has stayed up for > than "
            f"{self.config.startsecs} seconds (startsecs)"
        )

    def _log_ready(self) -> None:
        how = self.watch.ready_detail if self.watch is not None else ""
        self.sup.log.info(f"success: {self.name} entered RUNNING state, ready ({how})")

    def _log_fatal(self) -> None:
        self.sup.log.info(
            f"gave up: {self.name} entered FATAL state, too many start retries too quickly"
        )

    _ACTIONS: dict[Act, Callable[[Process], None]] = {
        Act.RESET_TRIES: _reset_tries,
        Act.COUNT_TRY: _count_try,
        Act.NOTE_TOO_QUICK: _note_too_quick,
        Act.NOTE_BAD_EXIT: _note_bad_exit,
        Act.SPAWN: _spawn,
        Act.LOG_SPAWNED: _log_spawned,
        Act.ARM_STARTSECS: _arm_startsecs,
        Act.ARM_BACKOFF: _arm_backoff,
        Act.SEND_STOP: _send_stop,
        Act.SEND_KILL: _send_kill,
        Act.FORGET_CHILD: _forget_child,
        Act.LOG_EXIT: _log_exit,
        Act.LOG_TOO_QUICK: _log_too_quick,
        Act.LOG_STOPPED: _log_stopped,
        Act.LOG_RUNNING: _log_running,
        Act.LOG_READY: _log_ready,
        Act.LOG_FATAL: _log_fatal,
        **WATCH_ACTIONS,
    }

    # --- the child's end -----------------------------------------------------------------

    def _on_exit(self, status: int) -> None:
        """Called by the reaper with the raw wait status."""
        # Everything the child wrote before dying goes to the log before we say it exited.
        for pump in list(self._pumps):
            pump.drain()
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None
        self.wait_status = status
        code, self.exit_text = describe_status(status)
        self.exitstatus = code
        self.exit_expected = self.config.expects(code)
        self.laststop = time.time()
        self.handle(Ev.EXIT)

    def last_exit_code(self) -> int:
        """The last child's end as a shell reports it: its exit code, 128+N for signal N,
        0 if none ran."""
        status = self.wait_status
        if status is None:
            return 0
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1

    def extended_info(self) -> dict[str, object]:
        """corral's fields of corral.getProcessInfo (after 4.3's)."""
        return extended_info(self)

    def starting_note(self) -> str:
        """What `status` shows while STARTING: what it waits for, or its STATUS= text."""
        return starting_note(self)

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
        self._cancel_timers()
        if self.watch is not None:
            self.watch.child_gone()
        for pump in self._pumps:
            pump.close()
        self._pumps = []
        self.close_logs()

    def close_logs(self) -> None:
        for sink in (self.stdout_sink, self.stderr_sink):
            if sink is not None:
                sink.close()
        self.stdout_sink = self.stderr_sink = None
