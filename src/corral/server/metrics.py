"""`/metrics`: the Prometheus text exposition format (version 0.0.4).

Three families of series, so existing dashboards keep working:
- node_exporter's (deprecated) supervisord collector, also served by go-supervisord:
  `node_supervisord_up`, `_state`, `_exit_status`, `_start_time_seconds` (labels name, group;
  up is 1 in STARTING, RUNNING and STOPPING; the start time only while up, typed counter);
- the standalone exporters': `supervisord_up`, `supervisor_process_info{name,group,state,
  exit_status}`, `supervisor_process_uptime`;
- corral's own, under `corral_` (docs/metrics.md).

Built on each scrape from the live state and /proc (psutil), nothing kept between scrapes.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from corral.api.describe import exit_status
from corral.runtime.stats import child_stats as _stats
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.api.dispatch import Registry
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_UP = frozenset({ProcessState.STARTING, ProcessState.RUNNING, ProcessState.STOPPING})
_STARTED = time.time()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items()) + "}"


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, labels: dict[str, str], value: float) -> None:
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{_labels(labels) if labels else ''} {number}")

    def text(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode("utf-8")


def _backoff(proc: Process) -> float:
    if proc.state != ProcessState.BACKOFF:
        return 0.0
    return float(proc.config.supervision.backoff_delay(proc.tries))


def render(sup: Supervisor, registry: Registry) -> bytes:
    out = _Text()
    procs = sup.processes()
    now = time.time()
    label = [{"name": p.name, "group": p.group} for p in procs]
    states = [ProcessState(p.state) for p in procs]
    stats = [_stats(p.pid) if p.pid else None for p in procs]

    def per_process(name: str, kind: str, help_: str, values: list[float | None]) -> None:
        out.family(name, kind, help_)
        for labels, value in zip(label, values, strict=True):
            if value is not None:
                out.sample(name, labels, value)

    # node_exporter's supervisord collector
    per_process("node_supervisord_up", "gauge", "Process Up", [int(s in _UP) for s in states])
    per_process("node_supervisord_state", "gauge", "Process State", [int(s) for s in states])
    per_process(
        "node_supervisord_exit_status",
        "gauge",
        "Process Exit Status",
        [exit_status(s, p.exitstatus) for s, p in zip(states, procs, strict=True)],
    )
    per_process(
        "node_supervisord_start_time_seconds",
        "counter",
        "Process start time",
        [
            float(int(p.laststart)) if s in _UP and p.laststart else None
            for s, p in zip(states, procs, strict=True)
        ],
    )
    # the standalone exporters'
    out.family("supervisord_up", "gauge", "Whether supervisord answers (always 1 here).")
    out.sample("supervisord_up", {}, 1)
    out.family("supervisor_process_info", "gauge", "Process state and exit status, as labels.")
    for p, s in zip(procs, states, strict=True):
        out.sample(
            "supervisor_process_info",
            {
                "name": p.name,
                "group": p.group,
                "state": s.name,
                "exit_status": str(exit_status(s, p.exitstatus)),
            },
            1,
        )
    per_process(
        "supervisor_process_uptime",
        "gauge",
        "Seconds since the process started (0 when it is not running).",
        [
            round(now - p.laststart, 3) if s == ProcessState.RUNNING and p.laststart else 0.0
            for s, p in zip(states, procs, strict=True)
        ],
    )
    # corral's own
    per_process(
        "corral_process_state", "gauge", "State code (Supervisor's).", [int(s) for s in states]
    )
    per_process(
        "corral_process_restarts_total",
        "counter",
        "Automatic restarts since the daemon started.",
        [p.restarts for p in procs],
    )
    infos = [p.extended_info() for p in procs]
    per_process(
        "corral_process_ready",
        "gauge",
        "1 when RUNNING and ready.",
        [int(bool(i["ready"])) for i in infos],
    )
    per_process(
        "corral_process_healthy",
        "gauge",
        "1 healthy, 0 unhealthy or unknown (no health check: 1 while RUNNING).",
        [
            int(i["health"] == "healthy" or (i["health"] == "none" and s == ProcessState.RUNNING))
            for i, s in zip(infos, states, strict=True)
        ],
    )
    per_process(
        "corral_process_cpu_seconds_total",
        "counter",
        "CPU time of the running child (user + system).",
        [round(st[0], 3) if st else None for st in stats],
    )
    per_process(
        "corral_process_resident_memory_bytes",
        "gauge",
        "Resident memory of the running child.",
        [st[1] if st else None for st in stats],
    )
    per_process(
        "corral_process_open_fds",
        "gauge",
        "Open fds of the running child.",
        [st[2] if st else None for st in stats],
    )
    per_process(
        "corral_process_log_bytes_total",
        "counter",
        "Bytes read from the process's stdout and stderr since the daemon started.",
        [sup.output.bytes_read(p) for p in procs],
    )
    per_process(
        "corral_process_backoff_seconds",
        "gauge",
        "The current backoff delay (0 unless BACKOFF).",
        [_backoff(p) for p in procs],
    )
    _daemon(out, sup, registry, now)
    return out.text()


def _daemon(out: _Text, sup: Supervisor, registry: Registry, now: float) -> None:
    me = _stats(os.getpid())
    if me is not None:
        out.family("corral_cpu_seconds_total", "counter", "The daemon's own CPU time.")
        out.sample("corral_cpu_seconds_total", {}, round(me[0], 3))
        out.family("corral_resident_memory_bytes", "gauge", "The daemon's resident memory.")
        out.sample("corral_resident_memory_bytes", {}, me[1])
        out.family("corral_open_fds", "gauge", "The daemon's open fds.")
        out.sample("corral_open_fds", {}, me[2])
    out.family("corral_uptime_seconds", "gauge", "Seconds since the daemon started.")
    out.sample("corral_uptime_seconds", {}, round(now - _STARTED, 3))
    out.family("corral_processes", "gauge", "Configured and active processes.")
    out.sample("corral_processes", {}, len(sup.processes()))
    out.family("corral_listener_queue_length", "gauge", "Events buffered for a listener pool.")
    for name, pool in sorted(sup.pools.items()):
        out.sample("corral_listener_queue_length", {"pool": name}, len(pool.queue))
    out.family("corral_rpc_requests_total", "counter", "XML-RPC calls, by method and outcome.")
    for (method, outcome), n in sorted(registry.counts.items()):
        out.sample("corral_rpc_requests_total", {"method": method, "outcome": outcome}, n)
