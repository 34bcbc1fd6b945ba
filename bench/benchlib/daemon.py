"""Write a config, launch a daemon, follow its main log, and tear it down (gently or hard)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import procstat
from .rpc import proxy
from .systems import BENCH, System

PROGRAMS = os.path.join(BENCH, "programs")
_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (\w+) (.*)$")
_SPAWNED = re.compile(r"spawned: '([^']+)' with pid (\d+)")
_SUCCESS = re.compile(r"success: (\S+) entered RUNNING state")
_EXITED = re.compile(r"exited: (\S+) \(")


def become_subreaper() -> None:
    """Orphans of a killed daemon reparent to the bench, which reaps them (prctl SUBREAPER)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


def program(name: str, command: str, **opts: Any) -> tuple[str, dict[str, Any]]:
    return name, {"command": command, **opts}


def idle_programs(n: int, logdir: str, startsecs: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """n separate [program:pNNNN] sections running the idle program, each with its own log."""
    cmd = os.path.join(PROGRAMS, "idle.sh")
    return [
        program(
            f"p{i:04d}",
            cmd,
            startsecs=startsecs,
            redirect_stderr="true",
            stdout_logfile=os.path.join(logdir, "%(program_name)s.log"),
        )
        for i in range(n)
    ]


def write_config(
    workdir: str,
    programs: Sequence[tuple[str, Mapping[str, Any]]],
    groups: Sequence[str] = (),
    minfds: int = 4096,
    minprocs: int = 200,
) -> str:
    """The same Supervisor-format config for both systems; sockets and logs stay in workdir."""
    sock = os.path.join(workdir, "d.sock")
    lines = [
        "[unix_http_server]",
        f"file={sock}",
        "",
        "[supervisord]",
        "nodaemon=true",
        "loglevel=info",
        f"logfile={os.path.join(workdir, 'main.log')}",
        "logfile_maxbytes=0",
        f"pidfile={os.path.join(workdir, 'd.pid')}",
        f"childlogdir={workdir}",
        f"minfds={minfds}",
        f"minprocs={minprocs}",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{sock}",
        "",
    ]
    for name, opts in programs:
        lines.append(f"[program:{name}]")
        lines.extend(f"{k}={v}" for k, v in opts.items())
        lines.append("")
    lines.extend(groups)
    path = os.path.join(workdir, "bench.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass
class LogEvent:
    ts: float
    kind: str  # spawned | success | exited | other
    name: str
    pid: int
    text: str


@dataclass
class LogTail:
    """Follows the main log from the bench side, so measuring start-up never touches the daemon."""

    path: str
    events: list[LogEvent] = field(default_factory=list)
    _pos: int = 0
    _rest: bytes = b""

    def poll(self) -> list[LogEvent]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self._pos += len(data)
        data = self._rest + data
        *complete, self._rest = data.split(b"\n")
        new: list[LogEvent] = []
        for raw in complete:
            m = _LINE.match(raw.decode("utf-8", "replace"))
            if not m:
                continue
            msg = m.group(3)
            ev = LogEvent(_stamp(m.group(1)), "other", "", 0, msg)
            if s := _SPAWNED.search(msg):
                ev.kind, ev.name, ev.pid = "spawned", s.group(1), int(s.group(2))
            elif s := _SUCCESS.search(msg):
                ev.kind, ev.name = "success", s.group(1)
            elif s := _EXITED.search(msg):
                ev.kind, ev.name = "exited", s.group(1)
            new.append(ev)
        self.events.extend(new)
        return new

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)

    def wait_count(self, kind: str, n: int, timeout: float) -> list[LogEvent]:
        """Poll until n events of kind were logged; their list (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            found = [e for e in self.events if e.kind == kind]
            if len(found) >= n:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)}/{n} '{kind}' lines in {self.path}")
            time.sleep(0.01)


class Daemon:
    """One daemon run of one system in its own work directory."""

    def __init__(self, system: System, workdir: str, conf: str) -> None:
        self.system = system
        self.workdir = workdir
        self.conf = conf
        self.sock = os.path.join(workdir, "d.sock")
        self.log = LogTail(os.path.join(workdir, "main.log"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.launched = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, stdout: Any = subprocess.DEVNULL) -> None:
        """`stdout`: the daemon's own stdout (PIPE: read it from `proc.stdout`)."""
        err = open(os.path.join(self.workdir, "daemon.stderr"), "wb")  # noqa: SIM115
        self.launched = time.time()
        self.proc = subprocess.Popen(
            self.system.daemon_argv(self.conf),
            env=self.system.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=err,
            cwd=self.workdir,
        )
        err.close()

    def rpc(self, timeout: float = 300.0) -> Any:
        return proxy(self.sock, timeout)

    def wait_rpc(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.rpc(5.0).supervisor.getState()
                return
            except (OSError, ConnectionError):
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.system.name} exited: {self._stderr()}") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _stderr(self) -> str:
        with open(os.path.join(self.workdir, "daemon.stderr"), errors="replace") as f:
            return f.read()[-2000:]

    def terminate_timed(self, timeout: float) -> float | None:
        """SIGTERM and the seconds until the daemon exits; None (then a hard kill) past timeout."""
        assert self.proc is not None
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_hard()
            return None
        took = time.perf_counter() - t0
        reap_orphans()
        return took

    def kill_hard(self) -> None:
        """SIGKILL the daemon, then its children (which reparent to the bench and are reaped)."""
        if self.proc is None or self.proc.poll() is not None:
            reap_orphans()
            return
        kids = procstat.children(self.proc.pid)
        self.proc.kill()
        self.proc.wait()
        for pid in kids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        reap_orphans()


def reap_orphans() -> None:
    """Kill and reap anything that reparented to the bench (children of a killed daemon)."""
    for _ in range(50):
        kids = procstat.children(os.getpid())
        if not kids:
            return
        for pid in kids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        time.sleep(0.01)
