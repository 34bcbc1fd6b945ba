"""The benchmark scenarios. Each runs one system once and returns {metric: value}."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import procstat, streams
from .daemon import PROGRAMS, Daemon, idle_programs, program, write_config
from .rpc import round_trip
from .scale import _STARTED, spawn_floor
from .systems import System

Metrics = dict[str, float | None]

MB = 1_000_000
BULK_BYTES = 200 * MB  # not a multiple of 50 MiB: no rotation lands on the very last byte
CHATTY_BYTES = 10 * MB
CHATTY_N = 20


@dataclass(frozen=True)
class Params:
    quick: bool
    idle_window: float
    crash_window: float
    rpc_all_calls: int
    rpc_one_calls: int
    shutdown_timeout: float

    @classmethod
    def make(cls, quick: bool) -> Params:
        if quick:
            return cls(True, 5.0, 4.0, 30, 200, 10.0)
        return cls(False, 20.0, 10.0, 200, 500, 180.0)


def _fresh(workdir: str) -> str:
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    return workdir


# -- 1, 5, 6: a daemon with N idle programs ------------------------------------------------


def fleet(system: System, workdir: str, p: Params, n: int, parts: set[str]) -> Metrics:
    """Start-up of n programs, then (as selected) RPC latency, stop/start all, and shutdown."""
    _fresh(workdir)
    conf = write_config(workdir, idle_programs(n, os.path.join(workdir, "logs")))
    d = Daemon(system, workdir, conf)
    out: Metrics = {}
    floor = 0.0
    if "startup" in parts:
        # the floor of the same n spawns, taken next to this daemon run
        floor = spawn_floor(n)
        out[f"startup.{n}.floor_s"] = floor
        out[f"startup.{n}.fds_floor_s"] = spawn_floor(n, fds_per_child=3)
        # on the disk the daemon's logs go to: creating 500 files can cost as much as the spawns
        floor_logs = os.path.join(workdir, "floor-logs")
        os.mkdir(floor_logs)
        out[f"startup.{n}.logs_floor_s"] = spawn_floor(n, log_dir=floor_logs)
        shutil.rmtree(floor_logs)
    d.start()
    try:
        spawned = d.log.wait_count("spawned", n, 180)
        running = d.log.wait_count("success", n, 180)
        if "startup" in parts:
            all_spawned = max(e.ts for e in spawned) - d.launched
            out[f"startup.{n}.spawned_s"] = all_spawned
            out[f"startup.{n}.spawned_vs_floor"] = all_spawned / floor
            out.update(_spawn_phase(d, n, max(e.ts for e in spawned), out))
            out[f"startup.{n}.running_s"] = max(e.ts for e in running) - d.launched
            out[f"startup.{n}.rss_mib"] = procstat.rss_mib(d.pid)
        if "rpc" in parts:
            out.update(_rpc_latency(d, p, n))
        if "stopstart" in parts:
            out.update(_stop_start(d, n))
        if "shutdown" in parts:
            took = d.terminate_timed(p.shutdown_timeout)
            # past the cap the daemon is killed and the cap is recorded as a lower bound
            out[f"shutdown.{n}_s"] = p.shutdown_timeout if took is None else took
            out[f"shutdown.{n}_timed_out"] = 1.0 if took is None else 0.0
    finally:
        d.kill_hard()
    return out


def _spawn_phase(d: Daemon, n: int, last_spawned: float, out: Metrics) -> Metrics:
    """The spawning alone: from the daemon's "started with pid" line (logged once it is
    ready to spawn, before the first child, by corrald and supervisord alike) to the last
    "spawned:" line, against the bare loops. Left out for a daemon that logs the line later."""
    started = [e.ts for e in d.log.events if _STARTED.search(e.text)]
    if not started or started[0] > last_spawned - 1e-3:
        return {}
    phase = last_spawned - started[0]
    return {
        f"startup.{n}.spawn_phase_s": phase,
        f"startup.{n}.spawn_phase_vs_floor": phase / out[f"startup.{n}.floor_s"],
        f"startup.{n}.spawn_phase_vs_fds_floor": phase / out[f"startup.{n}.fds_floor_s"],
        f"startup.{n}.spawn_phase_vs_logs_floor": phase / out[f"startup.{n}.logs_floor_s"],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rpc_latency(d: Daemon, p: Params, n: int) -> Metrics:
    sup = d.rpc().supervisor
    for _ in range(3):  # warm caches on both sides
        sup.getAllProcessInfo()
    assert len(sup.getAllProcessInfo()) == n
    # timed from request sent to response read; the client's XML parsing is left out
    times = [round_trip(d.sock, "supervisor.getAllProcessInfo") for _ in range(p.rpc_all_calls)]
    one = [
        round_trip(d.sock, "supervisor.getProcessInfo", f"p{(i * 37) % n:04d}")
        for i in range(p.rpc_one_calls)
    ]
    return {
        "rpc.getAllProcessInfo.p50_ms": 1000 * statistics.median(times),
        "rpc.getAllProcessInfo.p99_ms": 1000 * _percentile(times, 0.99),
        "rpc.getProcessInfo.p50_ms": 1000 * statistics.median(one),
        "rpc.getProcessInfo.p99_ms": 1000 * _percentile(one, 0.99),
    }


def _stop_start(d: Daemon, n: int) -> Metrics:
    sup = d.rpc().supervisor
    t0 = time.perf_counter()
    sup.stopAllProcesses(True)
    stop = time.perf_counter() - t0
    t0 = time.perf_counter()
    sup.startAllProcesses(True)
    start = time.perf_counter() - t0
    states = {i["statename"] for i in sup.getAllProcessInfo()}
    if states != {"RUNNING"}:
        raise RuntimeError(f"after startAllProcesses: {states}")
    return {f"stopall.{n}_s": stop, f"startall.{n}_s": start}


# -- 2: idle ----------------------------------------------------------------------------------


def idle(system: System, workdir: str, p: Params, n: int = 200) -> Metrics:
    _fresh(workdir)
    conf = write_config(workdir, idle_programs(n, os.path.join(workdir, "logs")))
    d = Daemon(system, workdir, conf)
    d.start()
    try:
        d.log.wait_count("success", n, 180)
        time.sleep(1.0)  # let start-up work (and any deferred timers) finish
        cpu0, (v0, i0) = procstat.cpu_ns(d.pid), procstat.context_switches(d.pid)
        time.sleep(p.idle_window)
        cpu1, (v1, i1) = procstat.cpu_ns(d.pid), procstat.context_switches(d.pid)
        wakeups = (v1 - v0) + (i1 - i0)
        return {
            f"idle.{n}.cpu_s": (cpu1 - cpu0) / 1e9,
            f"idle.{n}.wakeups": float(wakeups),
            f"idle.{n}.wakeups_per_s": wakeups / p.idle_window,
            f"idle.{n}.threads": float(procstat.thread_count(d.pid)),
        }
    finally:
        d.kill_hard()


# -- 3: log throughput ------------------------------------------------------------------------


def _rotated(base: str, backups: int) -> list[str]:
    """Oldest first: base.3, base.2, base.1, base (those that exist)."""
    names = [f"{base}.{i}" for i in range(backups, 0, -1)] + [base]
    return [x for x in names if os.path.exists(x)]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def logs(system: System, workdir: str, p: Params) -> Metrics:
    _fresh(workdir)
    py = sys.executable
    common = {
        "autostart": "false",
        "autorestart": "false",
        "startsecs": 0,
        "stdout_logfile_maxbytes": "50MB",
        "stdout_logfile_backups": 3,
    }
    bulk_log = os.path.join(workdir, "bulk.log")
    progs = [
        program(
            "bulk",
            f"{py} {os.path.join(PROGRAMS, 'bulk.py')} {BULK_BYTES}",
            stdout_logfile=bulk_log,
            **common,
        ),
        program(
            "chatty",
            f"{py} {os.path.join(PROGRAMS, 'chatty.py')} {CHATTY_BYTES} c%(process_num)02d",
            numprocs=CHATTY_N,
            process_name="%(program_name)s_%(process_num)02d",
            stdout_logfile=os.path.join(workdir, "chatty_%(process_num)02d.log"),
            **common,
        ),
    ]
    conf = write_config(workdir, progs)
    d = Daemon(system, workdir, conf)
    d.start()
    out: Metrics = {}
    try:
        d.wait_rpc()
        sup = d.rpc().supervisor
        tail = streams.tail_of(streams.bulk_chunks(BULK_BYTES), 64)

        def bulk_done() -> bool:
            files = [f for f in _rotated(bulk_log, 3) if _size(f) > 0]
            if not files:
                return False
            with open(files[-1], "rb") as f:
                f.seek(max(0, _size(files[-1]) - len(tail)))
                return f.read() == tail

        cpu0 = procstat.cpu_ns(d.pid)
        t0 = time.perf_counter()
        sup.startProcess("bulk", False)
        _wait(bulk_done, 300)
        wall = time.perf_counter() - t0
        cpu = (procstat.cpu_ns(d.pid) - cpu0) / 1e9
        ok, found, why = streams.verify_files(
            _rotated(bulk_log, 3), streams.bulk_chunks(BULK_BYTES)
        )
        if not ok:
            print(f"  [{system.name}] bulk verify FAILED: {why} ({found} bytes)", flush=True)
        out["logs.bulk.wall_s"] = wall
        out["logs.bulk.cpu_s"] = cpu
        out["logs.bulk.cpu_ms_per_mb"] = 1000 * cpu / (BULK_BYTES / MB)
        out["logs.bulk.bytes_ok"] = 1.0 if ok else 0.0

        chatty_logs = [os.path.join(workdir, f"chatty_{i:02d}.log") for i in range(CHATTY_N)]
        cpu0 = procstat.cpu_ns(d.pid)
        t0 = time.perf_counter()
        sup.startProcessGroup("chatty", False)
        _wait(lambda: all(_size(f) >= CHATTY_BYTES for f in chatty_logs), 300)
        wall = time.perf_counter() - t0
        cpu = (procstat.cpu_ns(d.pid) - cpu0) / 1e9
        good = 0
        for i, f in enumerate(chatty_logs):
            ok, found, why = streams.verify_files(
                _rotated(f, 3), streams.chatty_lines(CHATTY_BYTES, f"c{i:02d}")
            )
            good += ok
            if not ok:
                print(f"  [{system.name}] {f} verify FAILED: {why}", flush=True)
        total_mb = CHATTY_N * CHATTY_BYTES / MB
        out["logs.chatty.wall_s"] = wall
        out["logs.chatty.cpu_s"] = cpu
        out["logs.chatty.cpu_ms_per_mb"] = 1000 * cpu / total_mb
        out["logs.chatty.bytes_ok"] = 1.0 if good == CHATTY_N else 0.0
    finally:
        d.kill_hard()
    return out


def _wait(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("log bytes did not all arrive")
        time.sleep(0.005)


# -- 4: crash/restart -------------------------------------------------------------------------


def crash(system: System, workdir: str, p: Params) -> Metrics:
    _fresh(workdir)
    stamps = os.path.join(workdir, "stamps.txt")
    progs = [
        program(
            "crash",
            f"{os.path.join(PROGRAMS, 'crash.sh')} {stamps}",
            startsecs=0,
            autorestart="true",
            startretries=3,
            stdout_logfile=os.path.join(workdir, "crash.log"),
        )
    ]
    conf = write_config(workdir, progs)
    d = Daemon(system, workdir, conf)
    d.start()
    try:
        d.log.wait_count("spawned", 1, 60)
        time.sleep(p.crash_window)
    finally:
        d.kill_hard()
    d.log.poll()
    evs = [e for e in d.log.events if e.name == "crash" and e.kind in ("spawned", "exited")]
    child_end: dict[int, float] = {}
    with open(stamps) as f:
        for line in f:
            pid, ts = line.split()
            child_end[int(pid)] = float(ts)
    starts = [e.ts for e in evs if e.kind == "spawned"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    detect: list[float] = []
    respawn: list[float] = []
    last_pid = 0
    last_exit: float | None = None
    for e in evs:
        if e.kind == "spawned":
            last_pid = e.pid
            if last_exit is not None:
                respawn.append(e.ts - last_exit)
        elif last_pid in child_end:
            detect.append(e.ts - child_end[last_pid])
            last_exit = e.ts
    if len(gaps) < 2:
        raise RuntimeError(f"only {len(starts)} starts of the crashing program")
    child = sorted(child_end.values())  # microsecond stamps, one per start
    child_gaps = [b - a for a, b in itertools.pairwise(child)]
    return {
        "crash.start_gap_ms": 1000 * statistics.median(gaps),
        "crash.child_start_gap_ms": 1000 * statistics.median(child_gaps),
        "crash.exit_detect_ms": 1000 * statistics.median(detect) if detect else None,
        "crash.exit_to_spawn_ms": 1000 * statistics.median(respawn) if respawn else None,
        "crash.starts_per_s": len(starts) / p.crash_window,
    }


# -- 7: client --------------------------------------------------------------------------------


def client_status(
    daemon_system: System, clients: list[System], workdir: str, p: Params, reps: int
) -> dict[str, list[float]]:
    """Wall time of each client's `status` against one daemon of daemon_system (50 programs)."""
    _fresh(workdir)
    n = 50
    conf = write_config(workdir, idle_programs(n, os.path.join(workdir, "logs")))
    d = Daemon(daemon_system, workdir, conf)
    d.start()
    out: dict[str, list[float]] = {c.name: [] for c in clients}
    try:
        d.log.wait_count("success", n, 120)
        for r in range(reps + 1):  # the first pass warms the page cache and is dropped
            order = clients if r % 2 == 0 else clients[::-1]
            for c in order:
                t0 = time.perf_counter()
                res = subprocess.run(
                    c.ctl_argv(conf, "status"), env=c.env, capture_output=True, timeout=60
                )
                took = time.perf_counter() - t0
                lines = res.stdout.decode().splitlines()
                if res.returncode != 0 or len(lines) != n:
                    why = res.stderr[-500:]
                    raise RuntimeError(f"{c.name} status: rc={res.returncode} {why!r}")
                if r:
                    out[c.name].append(took)
    finally:
        d.kill_hard()
    return out


SCENARIOS: dict[str, Any] = {}
