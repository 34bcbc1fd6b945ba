"""Readiness: how a process with a `ready_check` gets from STARTING to RUNNING.

notify, fd:N and log:REGEX are event-driven (a datagram, a newline on a pipe, an output
line): READY is raised in the same loop iteration the signal arrives in. tcp, http and
exec are probed every ready_interval, the first try at once after the spawn. Each run
gets fresh resources: the notify socket and the fd pipe are made just before the spawn
(the child may signal at once) and released with the child.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from corral.config.model import ProcessConfig
from corral.runtime.notify import NotifyDir, NotifySocket
from corral.runtime.spawn import resolve_command
from corral.runtime.transitions import Ev, Timer
from corral.runtime.watch import Watch, run_probe
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.process import Process

S = ProcessState
_LINE_MAX = 64 * 1024  # a log "line" longer than this is matched in pieces
# `export` then `exec`: the program keeps the shell's pid, which is what WATCHDOG_PID names
_WATCHDOG_WRAPPER = 'export WATCHDOG_PID=$$; exec "$0" "$@"'


class Preparation:
    """What a spawn adds for readiness: environment and descriptors for the child."""

    __slots__ = ("child_ends", "env", "pass_fds")

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.pass_fds: dict[int, int] = {}
        self.child_ends: list[int] = []  # our copies of what the child got: closed after

    def release_child_ends(self) -> None:
        for fd in self.child_ends:
            os.close(fd)
        self.child_ends = []


def prepare(proc: Process, notify_dir: Callable[[], NotifyDir]) -> Preparation | None:
    """On the loop thread, just before the spawn job: the notify socket and the fd pipe."""
    watch = proc.watch
    if watch is None:
        return None
    watch.new_run()
    check = proc.config.supervision.ready_check
    if check is None:
        return None
    prep = Preparation()
    if check.kind == "notify":
        path = notify_dir().socket_path(proc.namespec)
        uid = proc.config.uid
        ident = proc.sup.spawner.identity(uid)
        sock = NotifySocket(
            path,
            lambda msg: on_notify(proc, msg),
            owner_uid=uid,
            owner_gid=ident.gid if ident is not None else None,
        )
        sock.open(asyncio.get_running_loop())
        watch.notify = sock
        prep.env["NOTIFY_SOCKET"] = path
        wd = proc.config.supervision.watchdog_sec
        if wd:
            prep.env["WATCHDOG_USEC"] = str(int(wd * 1_000_000))
    elif check.kind == "fd":
        r, w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        watch.fd_read = r
        prep.pass_fds[check.fd] = w
        prep.child_ends.append(w)
    return prep


def spawn_config(cfg: ProcessConfig, env: dict[str, str]) -> ProcessConfig:
    """The config to spawn with: with watchdog_sec, a shell sets WATCHDOG_PID to its own
    pid and execs the program (the pid is only known once spawned, the environment before)."""
    if not cfg.supervision.watchdog_sec:
        return cfg
    filename, argv = resolve_command(cfg.command, env)
    wrapped = shlex.join(["/bin/sh", "-c", _WATCHDOG_WRAPPER, filename, *argv[1:]])
    return replace(cfg, command=wrapped)


def start(proc: Process) -> None:
    """The WATCH_READY action, once the child is spawned."""
    watch = proc.watch
    check = proc.config.supervision.ready_check
    assert watch is not None and check is not None
    sv = proc.config.supervision
    proc.arm(Timer.READY, sv.ready_timeout)
    if check.kind == "notify":
        watch.ready_detail = "no READY=1 received"
    elif check.kind == "fd":
        watch.ready_detail = f"no newline written to fd {check.fd}"
        _watch_fd(proc, watch)
    elif check.kind == "log":
        assert check.pattern is not None
        watch.ready_detail = "no output line matched"
        for pump in proc.pumps():
            watch.taps.append(pump.tap(_line_matcher(proc, check.pattern)))
    else:
        tasks = proc.sup.lifecycle.tasks
        if tasks is not None:
            watch.probe_task = tasks.spawn(_probe_until_ready(proc, watch), f"ready {proc.name}")


def _ready(proc: Process, how: str) -> None:
    watch = proc.watch
    if watch is None or proc.state != S.STARTING or not proc.pid:
        return
    watch.ready = True
    watch.ready_detail = how
    proc.handle(Ev.READY)


def on_notify(proc: Process, msg: dict[str, str]) -> None:
    watch = proc.watch
    if watch is None:
        return
    status = msg.get("STATUS")
    if status is not None:
        watch.notify_status = status
    if msg.get("STOPPING") == "1":
        watch.watchdog_paused = True
        proc.cancel_timer(Timer.WATCHDOG)
    extend = msg.get("EXTEND_TIMEOUT_USEC")
    if extend is not None and proc.state == S.STARTING and proc.timer_armed(Timer.READY):
        try:
            usec = int(extend)
        except ValueError:
            usec = -1
        if usec >= 0:
            proc.arm(Timer.READY, usec / 1_000_000)  # at least this long from now, as systemd
    if msg.get("READY") == "1":
        _ready(proc, "notify")
    if msg.get("WATCHDOG") == "1" and proc.state == S.RUNNING and not watch.watchdog_paused:
        wd = proc.config.supervision.watchdog_sec
        if wd:
            proc.arm(Timer.WATCHDOG, wd)
            if watch.health != "healthy":
                watch.health = "healthy"
                proc.sup.health_changed(proc)
            watch.health_detail = "watchdog ping"


def _watch_fd(proc: Process, watch: Watch) -> None:
    fd = watch.fd_read
    check = proc.config.supervision.ready_check
    assert fd is not None and check is not None
    fd_number = check.fd

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if b"\n" in data:
            _ready(proc, "fd")
        elif not data:
            # every writer closed it without a newline: it will never come; the timeout
            # or the child's exit decides, but stop reading a dead pipe
            watch.ready_detail = f"fd {fd_number} closed without a newline"
            asyncio.get_running_loop().remove_reader(fd)

    asyncio.get_running_loop().add_reader(fd, readable)


def _line_matcher(proc: Process, pattern: re.Pattern[str]) -> Callable[[bytes], None]:
    pending = bytearray()

    def feed(data: bytes) -> None:
        pending.extend(data)
        while True:
            end = pending.find(b"\n")
            if end < 0:
                if len(pending) > _LINE_MAX:
                    del pending[: len(pending) - _LINE_MAX]
                return
            line = bytes(pending[:end]).decode("utf-8", "replace")
            del pending[: end + 1]
            if pattern.search(line):
                _ready(proc, "log")
                return

    return feed


async def _probe_until_ready(proc: Process, watch: Watch) -> None:
    while True:
        sv = proc.config.supervision  # read afresh: its tuning keys are live
        check = sv.ready_check
        assert check is not None
        result = await run_probe(proc, check, min(sv.health_timeout, sv.ready_timeout))
        watch.ready_detail = result.detail
        if result.ok:
            _ready(proc, check.kind)
            return
        await asyncio.sleep(sv.ready_interval)


def not_ready_text(proc: Process) -> str:
    sv = proc.config.supervision
    detail = proc.watch.ready_detail if proc.watch is not None else ""
    text = f"ready check {sv.ready_check} not passed after {sv.ready_timeout:g} s"
    return f"{text}: {detail}" if detail else text
