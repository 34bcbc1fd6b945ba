"""Medians, the side-by-side table, target checks, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import statistics
from dataclasses import dataclass

Samples = dict[str, dict[str, list[float | None]]]  # system -> metric -> one value per repetition

A, B = "corral", "supervisord"


@dataclass(frozen=True)
class Target:
    metric: str
    kind: str  # "ratio": corral/supervisord <= limit; "max": corral median <= limit; "worst": max
    limit: float
    text: str


TARGETS = [
    Target("startup.500.spawned_s", "ratio", 0.2, "start-up 500: all spawned <= 0.2x"),
    Target("startup.500.running_s", "ratio", 0.6, "start-up 500: all RUNNING <= 0.6x"),
    Target("startup.500.rss_mib", "ratio", 1.0, "start-up 500: daemon RSS <= 1.0x"),
    Target("idle.200.wakeups", "max", 0.0, "idle 200: zero wake-ups in the window"),
    Target("logs.bulk.cpu_ms_per_mb", "ratio", 0.5, "bulk writer: daemon CPU per MB <= 0.5x"),
    Target("logs.chatty.cpu_ms_per_mb", "ratio", 1.0, "chatty writers: daemon CPU per MB <= 1.0x"),
    Target("logs.bulk.bytes_ok", "min", 1.0, "bulk writer: every byte present, nothing extra"),
    Target("logs.chatty.bytes_ok", "min", 1.0, "chatty writers: every byte present, nothing extra"),
    Target("crash.start_gap_ms", "max", 20.0, "crash/restart: median gap between starts <= 20 ms"),
    Target("rpc.getAllProcessInfo.p50_ms", "ratio", 0.1, "getAllProcessInfo (500) p50 <= 0.1x"),
    Target("rpc.getProcessInfo.p50_ms", "ratio", 0.5, "getProcessInfo (500) p50 <= 0.5x"),
    Target("stopall.500_s", "ratio", 1.0, "stop all 500 <= 1.0x"),
    Target("stopall.500_s", "worst", 1.0, "stop all 500: no 1 s outliers (every run < 1 s)"),
    Target("startall.500_s", "ratio", 0.6, "start all 500 <= 0.6x"),
    Target("shutdown.100_s", "worst", 1.0, "shutdown of 100 programs under 1 s (every run)"),
    Target("shutdown.100_timed_out", "max", 0.0, "shutdown of 100 programs: no run hit the cap"),
    Target("client.status_s[corrald]", "ratio", 0.5, "corralctl status <= 0.5x supervisorctl"),
]


def median(values: list[float | None]) -> float | None:
    """Median of the runs; None if any run failed or timed out (so a failure is never hidden)."""
    if not values or any(v is None for v in values):
        return None
    return statistics.median([v for v in values if v is not None])


def _fmt(v: float | None) -> str:
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def check(t: Target, s: Samples) -> tuple[bool | None, str]:
    """(met?, the figure compared) for one target; None when it could not be measured."""
    a_runs = s.get(A, {}).get(t.metric, [])
    a = median(a_runs)
    if t.kind == "ratio":
        r = ratio(a, median(s.get(B, {}).get(t.metric, [])))
        return (None if r is None else r <= t.limit), f"ratio {_fmt(r)}"
    if t.kind == "worst":
        if not a_runs or any(v is None for v in a_runs):
            return False, "a run timed out or failed"
        worst = max(v for v in a_runs if v is not None)
        return worst < t.limit, f"worst {_fmt(worst)}"
    if t.kind == "min":
        return (None if a is None else a >= t.limit), f"corral {_fmt(a)}"
    return (None if a is None else a <= t.limit), f"corral {_fmt(a)}"


def table(s: Samples) -> str:
    metrics: list[str] = []
    for sysname in (A, B):
        for m in s.get(sysname, {}):
            if m not in metrics:
                metrics.append(m)
    rows = [
        "| metric | corral | supervisord 4.3.0 | corral/supervisord | runs (corral; supervisord) |",
        "|---|---:|---:|---:|---|",
    ]
    for m in metrics:
        ra, rb = s.get(A, {}).get(m, []), s.get(B, {}).get(m, [])
        a, b = median(ra), median(rb)
        runs = "; ".join(" ".join(_fmt(v) for v in r) or "-" for r in (ra, rb))
        rows.append(f"| {m} | {_fmt(a)} | {_fmt(b)} | {_fmt(ratio(a, b))} | {runs} |")
    return "\n".join(rows)


def targets_table(s: Samples) -> tuple[str, list[Target]]:
    rows = ["| target | figure | met |", "|---|---|---|"]
    missed: list[Target] = []
    for t in TARGETS:
        if t.metric not in s.get(A, {}):
            continue
        ok, fig = check(t, s)
        word = "yes" if ok else ("not measured" if ok is None else "**MISSED**")
        if not ok:
            missed.append(t)
        rows.append(f"| {t.text} | {fig} | {word} |")
    return "\n".join(rows), missed


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    return (
        f"nproc {os.cpu_count()}, {cpu}, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


_KEEP = re.compile(r"<!-- analysis:begin -->.*?<!-- analysis:end -->", re.S)


def write_docs(path: str, s: Samples, when: str, command: str, reps: int, wall: float) -> None:
    """Rewrite docs/benchmarks.md, keeping the hand-written analysis block between its markers."""
    keep = "<!-- analysis:begin -->\n<!-- analysis:end -->"
    if os.path.exists(path):
        with open(path) as f:
            m = _KEEP.search(f.read())
            keep = m.group(0) if m else keep
    tt, missed = targets_table(s)
    missed_lines = "\n".join(f"- {t.text}" for t in missed) or "- none"
    text = f"""# Benchmarks: corrald vs supervisord 4.3.0

Generated by `bench/run.py` (see bench/README.md for what each scenario does and how).

- date: {when}
- command: `{command}`
- machine: {machine()}
- repetitions: {reps} per system, alternating A/B; figures are medians of the runs;
  total bench wall time {wall:.0f} s

## Results

Times in seconds (`_s`) or milliseconds (`_ms`); RSS in MiB; `bytes_ok` is 1 when every byte
written by the children is in the log files in order and nothing else is.

{table(s)}

## Targets (from the issue)

{tt}

## Missed targets

{missed_lines}

{keep}
"""
    with open(path, "w") as f:
        f.write(text)
