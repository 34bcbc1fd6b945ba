"""The scale scenario: the same measures at 100 ... 5,000 programs, to show whether each cost
per program stays flat, next to the bare posix_spawn floor of the same commands.

One run of one system launches a daemon with no programs (the memory at rest), then one daemon
per scale, and returns every figure of every scale plus the flatness ratios of that run.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from . import procstat
from .daemon import PROGRAMS, Daemon, idle_programs, write_config
from .rpc import round_trip, timed_call
from .systems import System

Metrics = dict[str, float | None]

_STARTED = re.compile(r"started with pid \d+")
# per-program figures whose growth from the smallest to the largest scale is the flatness
# what each daemon holds per program with this config: stdin and stdout pipes, the log file
FDS_PER_PROGRAM = 3
PER_PROGRAM = ("spawn_ms_per_prog", "rss_kib_per_prog", "gapi_us_per_proc", "wakeups_per_s")


@dataclass(frozen=True)
class ScaleParams:
    scales: tuple[int, ...]
    startsecs: int  # 0: RUNNING follows spawn at once, so the timing is spawning, not a timer
    settle_s: float  # after all are RUNNING, before memory and wake-ups are read
    idle_window_s: float
    gapi_calls: int  # getAllProcessInfo calls timed per scale (at most; see one_scale)

    @classmethod
    def make(cls, quick: bool, scales: tuple[int, ...] = (100, 1000, 5000)) -> ScaleParams:
        if quick:
            return cls(tuple(sorted(scales)), 0, 1.0, 3.0, 3)
        return cls(tuple(sorted(scales)), 0, 1.0, 5.0, 5)

    @property
    def minfds(self) -> int:
        # The same limit at every scale (supervisord's children close every fd below minfds
        # one by one, so a limit that grew with N would add a per-program cost of its own).
        # Enough for the largest (FDS_PER_PROGRAM each, measured: `fds` in the results),
        # kept under the usual hard limit of 20,000 for the default 5,000.
        return max(4096, FDS_PER_PROGRAM * max(self.scales) + 1024)

    @property
    def minprocs(self) -> int:
        return max(self.scales) + 200


def spawn_floor(n: int, fds_per_child: int = 0, log_dir: str = "") -> float:
    """Seconds of a bare os.posix_spawn loop of n idle programs, in a fresh interpreter;
    with fds_per_child, from a parent whose fd table grows as a daemon's; with log_dir,
    making each child's pipe and log file there as well (spawnfloor.py)."""
    fds = ["--fds-per-child", str(fds_per_child)] if fds_per_child else []
    opts = ["--log-dir", log_dir] if log_dir else fds
    script, idle = os.path.join(PROGRAMS, "spawnfloor.py"), os.path.join(PROGRAMS, "idle.sh")
    res = subprocess.run(
        [sys.executable, "-I", script, *opts, str(n), idle],
        capture_output=True,
        text=True,
        timeout=120 + n * 0.05,
        check=True,
    )
    return float(res.stdout.split()[-1])


def _wait_started(d: Daemon, n: int, timeout: float) -> None:
    """Until n programs are RUNNING and the daemon has logged 'started with pid', by the main
    log, followed from outside at a slow poll so the bench leaves the cores to the daemon."""
    deadline = time.monotonic() + timeout
    while True:
        d.log.poll()
        if d.log.count("success") >= n and any(_STARTED.search(e.text) for e in d.log.events):
            return
        if d.proc is not None and d.proc.poll() is not None:
            raise RuntimeError(f"{d.system.name} exited: {d._stderr()}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{d.log.count('success')}/{n} RUNNING after {timeout:.0f} s")
        time.sleep(0.05)


def one_scale(system: System, workdir: str, sp: ScaleParams, n: int) -> Metrics:
    """Launch one daemon with n idle programs and take every figure of that scale."""
    logdir = os.path.join(workdir, "logs")
    os.makedirs(logdir, exist_ok=True)
    progs = idle_programs(n, logdir, startsecs=sp.startsecs)
    conf = write_config(workdir, progs, minfds=sp.minfds, minprocs=sp.minprocs)
    d = Daemon(system, workdir, conf)
    out: Metrics = {}
    k = f"scale.{n}"
    d.start()
    try:
        _wait_started(d, n, 120 + 0.2 * n)
        # Both daemons log a notice or two once the config is read and before any spawn
        # (as root: "Supervisor is running as root..."): the first line of the log.
        head = d.log.events[0]
        out[f"{k}.first_line_s"] = head.ts - d.launched
        if n:
            spawned = [e.ts for e in d.log.events if e.kind == "spawned"]
            running = [e.ts for e in d.log.events if e.kind == "success"]
            # corrald logs a batch of spawns once the batch is done: only the last stamps
            # of each kind mean the same thing for both daemons
            out[f"{k}.spawned_s"] = max(spawned) - d.launched
            out[f"{k}.running_s"] = max(running) - d.launched
            # from the daemon's own first line, not from a launch in another run: the
            # machine's load moves a launch by more than 100 programs take to spawn
            start = head.ts if head.kind == "other" else d.launched
            out[f"{k}.spawn_ms_per_prog"] = 1000 * (max(running) - start) / n
        time.sleep(sp.settle_s)
        out[f"{k}.rss_mib"] = procstat.status_kib(d.pid, "VmRSS") / 1024
        out[f"{k}.pss_mib"] = procstat.pss_kib(d.pid) / 1024
        out[f"{k}.fds"] = float(procstat.fd_count(d.pid))
        cpu0, (v0, i0) = procstat.cpu_ns(d.pid), procstat.context_switches(d.pid)
        time.sleep(sp.idle_window_s)
        cpu1, (v1, i1) = procstat.cpu_ns(d.pid), procstat.context_switches(d.pid)
        out[f"{k}.wakeups_per_s"] = ((v1 - v0) + (i1 - i0)) / sp.idle_window_s
        out[f"{k}.idle_cpu_ms_per_s"] = (cpu1 - cpu0) / 1e6 / sp.idle_window_s
        if n:
            method = "supervisor.getAllProcessInfo"
            first, infos = timed_call(d.sock, method, timeout=900)
            if len(infos) != n or {i["statename"] for i in infos} != {"RUNNING"}:
                raise RuntimeError(f"getAllProcessInfo: {len(infos)} entries, not {n} RUNNING")
            # the first call warms caches, unless it took over 5 s (supervisord needs more
            # than a minute per call at 5,000 processes): then it is the one sample
            times = [first] if first > 5.0 else []
            while len(times) < sp.gapi_calls and (not times or sum(times) < 5.0):
                times.append(round_trip(d.sock, method, timeout=900))
            out[f"{k}.gapi_ms"] = 1000 * statistics.median(times)
            out[f"{k}.gapi_us_per_proc"] = 1e6 * statistics.median(times) / n
            out[f"{k}.rss_after_rpc_mib"] = procstat.status_kib(d.pid, "VmRSS") / 1024
    finally:
        d.kill_hard()
    return out


def scale(system: System, workdir: str, sp: ScaleParams) -> Metrics:
    """Every scale of sp for one system, the rest daemon (no programs) first; per-program
    figures and the flatness (largest scale over smallest) of this run."""
    out: Metrics = {}

    def run(n: int) -> None:
        sub = os.path.join(workdir, f"n{n}")
        os.makedirs(sub)
        try:
            out.update(one_scale(system, sub, sp, n))
        finally:
            shutil.rmtree(sub, ignore_errors=True)

    run(0)
    rest = out["scale.0.rss_mib"]
    assert rest is not None
    prev: tuple[int, float] | None = None
    for n in sp.scales:
        floor = spawn_floor(n)  # in the same run, next to the daemon it bounds
        out[f"scale.{n}.floor_s"] = floor
        out[f"scale.{n}.floor_ms_per_prog"] = 1000 * floor / n
        fds_floor = spawn_floor(n, FDS_PER_PROGRAM)
        out[f"scale.{n}.fds_floor_ms_per_prog"] = 1000 * fds_floor / n
        run(n)
        spawned, rss = out[f"scale.{n}.spawned_s"], out[f"scale.{n}.rss_mib"]
        assert spawned is not None and rss is not None
        out[f"scale.{n}.spawned_vs_floor"] = spawned / floor
        out[f"scale.{n}.spawned_vs_fds_floor"] = spawned / fds_floor
        # includes what having any program costs once (modules, threads), spread over n
        out[f"scale.{n}.rss_kib_per_prog"] = 1024 * (rss - rest) / n
        if prev is not None:
            # the cost of one more program, between this scale and the one below
            out[f"scale.{n}.rss_kib_marginal"] = 1024 * (rss - prev[1]) / (n - prev[0])
        prev = (n, rss)
    lo, hi = sp.scales[0], sp.scales[-1]
    if hi > lo:
        for m in (*PER_PROGRAM, "floor_ms_per_prog", "fds_floor_ms_per_prog"):
            a, b = out[f"scale.{lo}.{m}"], out[f"scale.{hi}.{m}"]
            assert a is not None and b is not None
            if m == "wakeups_per_s":
                # a daemon that never wakes is flat: floor both at one wake-up per window
                a, b = max(a, 1 / sp.idle_window_s), max(b, 1 / sp.idle_window_s)
            out[f"scale.flat.{m}"] = b / a if a > 0 else None
    return out
