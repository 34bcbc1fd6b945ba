"""The readiness chain (issue 9): N programs, each depending on the one before, each ready
by sd_notify DELAY seconds after it starts. corral only: supervisord has no readiness.

The floor is the same chain run by the bench itself, with nothing in between: start a
program, wait for its READY=1 on a socket, start the next. corral's overhead is the time
to all RUNNING minus that floor; the handover is the time from a program's RUNNING (the
daemon's log line) to its dependent's spawn.
"""

from __future__ import annotations

import itertools
import os
import select
import signal
import socket
import statistics
import sys
import tempfile
import time

from benchlib.daemon import Daemon, program, write_config
from benchlib.scenarios import Metrics, _fresh
from benchlib.systems import BENCH, System

N = 10
DELAY = 0.2
PROGRAM = os.path.join(BENCH, "programs", "notify_after.py")


def _argv() -> list[str]:
    return [sys.executable, "-S", PROGRAM, str(DELAY)]


def floor(n: int = N) -> float:
    """The chain with no supervisor: spawn, wait for READY=1, spawn the next."""
    tmp = tempfile.mkdtemp(prefix="cb-floor-")
    path = os.path.join(tmp, "n.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    children: list[int] = []
    argv = _argv()
    t0 = time.monotonic()
    try:
        for _ in range(n):
            children.append(os.posix_spawn(argv[0], argv, env))  # as corrald spawns
            while True:
                select.select([sock], [], [], 30)
                if b"READY=1" in sock.recv(4096):
                    break
        return time.monotonic() - t0
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        sock.close()
        os.unlink(path)
        os.rmdir(tmp)


def chain(system: System, workdir: str) -> Metrics:
    if not system.name.startswith("corral"):
        return {}  # nothing to compare: 4.3 has no readiness
    _fresh(workdir)
    cmd = " ".join(_argv())
    progs = [
        program(
            f"c{i:02d}",
            cmd,
            ready_check="notify",
            stdout_logfile="NONE",
            stderr_logfile="NONE",
            **({"depends_on": f"c{i - 1:02d}"} if i else {}),
        )
        for i in range(N)
    ]
    conf = write_config(workdir, progs)
    floor_s = floor()
    d = Daemon(system, workdir, conf)
    d.start()
    try:
        d.log.wait_count("success", N, 60)
    finally:
        d.kill_hard()
    d.log.poll()
    spawned = {e.name: e.ts for e in d.log.events if e.kind == "spawned"}
    ready = {e.name: e.ts for e in d.log.events if e.kind == "success"}
    names = [f"c{i:02d}" for i in range(N)]
    handover = [spawned[b] - ready[a] for a, b in itertools.pairwise(names)]
    running_s = ready[names[-1]] - spawned[names[0]]
    return {
        "chain.10.running_s": running_s,
        "chain.10.floor_s": floor_s,
        "chain.10.nominal_s": N * DELAY,
        "chain.10.overhead_ms": 1000 * (running_s - floor_s),
        "chain.10.handover_p50_ms": 1000 * statistics.median(handover),
        "chain.10.handover_max_ms": 1000 * max(handover),
    }
