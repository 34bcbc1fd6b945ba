"""Medians, the side-by-side table, target checks, and docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
import statistics
from dataclasses import dataclass

Samples = dict[str, dict[str, list[float | None]]]  # system -> metric -> one value per repetition

A, B = "corral", "supervisord"
BASE = "corral-before"  # a second corral run from another source tree (--baseline-src)


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
    Target(
        "startup.500.spawn_phase_vs_floor",
        "max",
        1.3,
        "start-up 500: spawning them within 1.3x a bare posix_spawn loop (issue 8)",
    ),
    Target("startup.500.rss_mib", "ratio", 0.85, "start-up 500: daemon RSS <= 0.85x (issue 8)"),
    Target("idle.200.wakeups", "max", 0.0, "idle 200: zero wake-ups in the window"),
    Target("logs.bulk.cpu_ms_per_mb", "ratio", 0.5, "bulk writer: daemon CPU per MB <= 0.5x"),
    Target("logs.chatty.cpu_ms_per_mb", "ratio", 1.0, "chatty writers: daemon CPU per MB <= 1.0x"),
    Target("logs.bulk.bytes_ok", "min", 1.0, "bulk writer: every byte present, nothing extra"),
    Target("logs.chatty.bytes_ok", "min", 1.0, "chatty writers: every byte present, nothing extra"),
    Target(
        "console.chatty.cpu_ms_per_mb",
        "ratio",
        1.0,
        "20 writers through the console: daemon CPU per MB <= supervisord's to files (issue 10)",
    ),
    Target(
        "console.chatty.bytes_ok",
        "min",
        1.0,
        "20 writers through the console: every line there once, whole (issue 10)",
    ),
    Target(
        "web.event.p50_ms",
        "max",
        10.0,
        "a state change to its Server-Sent Event, p50 < 10 ms (500 programs, issue 12)",
    ),
    Target("crash.start_gap_ms", "max", 20.0, "crash/restart: median gap between starts <= 20 ms"),
    Target("rpc.getAllProcessInfo.p50_ms", "ratio", 0.1, "getAllProcessInfo (500) p50 <= 0.1x"),
    Target("rpc.getProcessInfo.p50_ms", "ratio", 0.5, "getProcessInfo (500) p50 <= 0.5x"),
    Target("stopall.500_s", "ratio", 1.0, "stop all 500 <= 1.0x"),
    Target("stopall.500_s", "worst", 1.0, "stop all 500: no 1 s outliers (every run < 1 s)"),
    Target("startall.500_s", "ratio", 0.6, "start all 500 <= 0.6x"),
    Target("shutdown.100_s", "worst", 1.0, "shutdown of 100 programs under 1 s (every run)"),
    Target("shutdown.100_timed_out", "max", 0.0, "shutdown of 100 programs: no run hit the cap"),
    Target("client.status_s[corrald]", "ratio", 0.5, "corralctl status <= 0.5x supervisorctl"),
    Target(
        "chain.10.overhead_ms",
        "max",
        50.0,
        "chain of 10 notify programs: all RUNNING within 50 ms of the floor (issue 9)",
    ),
    Target(
        "chain.10.handover_p50_ms",
        "max",
        5.0,
        "chain of 10: ready to the dependent's spawn, p50 < 5 ms (issue 9)",
    ),
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


def check(t: Target, s: Samples, system: str = A) -> tuple[bool | None, str]:
    """(met?, the figure compared) for one target; None when it could not be measured."""
    a_runs = s.get(system, {}).get(t.metric, [])
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
        return (None if a is None else a >= t.limit), f"{system} {_fmt(a)}"
    return (None if a is None else a <= t.limit), f"{system} {_fmt(a)}"


def _systems(s: Samples) -> list[str]:
    """corral first, then any other corral runs, supervisord last."""
    others = [x for x in s if x not in (A, B)]
    return [x for x in (A, *others, B) if x in s]


def _title(sysname: str) -> str:
    return "supervisord 4.3.0" if sysname == B else sysname


def table(s: Samples) -> str:
    systems = _systems(s)
    corrals = [x for x in systems if x != B]
    metrics: list[str] = []
    for sysname in systems:
        for m in s.get(sysname, {}):
            if m not in metrics:
                metrics.append(m)
    ratios = [(c, B) for c in corrals]
    if BASE in s and A in s:
        ratios.append((A, BASE))
    head = " | ".join(_title(x) for x in systems)
    rhead = " | ".join(f"{a}/{b}" for a, b in ratios)
    rows = [
        f"| metric | {head} | {rhead} | runs ({'; '.join(systems)}) |",
        "|---|" + "---:|" * (len(systems) + len(ratios)) + "---|",
    ]
    for m in metrics:
        runs_of = {x: s.get(x, {}).get(m, []) for x in systems}
        med = {x: median(r) for x, r in runs_of.items()}
        vals = " | ".join(_fmt(med[x]) for x in systems)
        rvals = " | ".join(_fmt(ratio(med[a], med[b])) for a, b in ratios)
        runs = "; ".join(" ".join(_fmt(v) for v in r) or "-" for r in runs_of.values())
        rows.append(f"| {m} | {vals} | {rvals} | {runs} |")
    return "\n".join(rows)


_SCALE = re.compile(r"^scale\.(\d+)\.(.+)$")
# (figure, what it is) in the order the scale table shows them
SCALE_ROWS = [
    ("first_line_s", "launch to the first log line (config read), s"),
    ("running_s", "launch to all RUNNING, s"),
    ("spawn_ms_per_prog", "per program: (all RUNNING - first log line) / N, ms"),
    ("floor_ms_per_prog", "per program: bare posix_spawn loop, ms"),
    ("fds_floor_ms_per_prog", "per program: posix_spawn loop holding 3 fds per child, ms"),
    ("spawned_vs_floor", "launch to all spawned / bare posix_spawn loop"),
    ("spawned_vs_fds_floor", "launch to all spawned / posix_spawn loop holding 3 fds per child"),
    ("rss_mib", "daemon VmRSS, MiB"),
    ("rss_kib_per_prog", "per program: (RSS at N - RSS at rest) / N, KiB"),
    ("rss_kib_marginal", "per program: RSS growth from the scale below / programs added, KiB"),
    ("fds", "daemon open fds"),
    ("gapi_ms", "getAllProcessInfo, median ms"),
    ("gapi_us_per_proc", "per process: getAllProcessInfo / N, us"),
    ("wakeups_per_s", "idle wake-ups per s"),
    ("idle_cpu_ms_per_s", "idle CPU ms per s"),
]
FLAT = ("spawn_ms_per_prog", "rss_kib_per_prog", "gapi_us_per_proc", "wakeups_per_s")


def scales_in(s: Samples) -> list[int]:
    found = {int(m.group(1)) for x in s.values() for k in x if (m := _SCALE.match(k))}
    return sorted(n for n in found if n > 0)


def scale_table(s: Samples) -> str:
    """One row per figure and system, one column per scale, and the flatness (largest
    scale over smallest, the median of each run's own ratio)."""
    scales = scales_in(s)
    if not scales:
        return ""
    rows = [
        "| figure | system | " + " | ".join(f"N={n}" for n in scales) + " | largest/smallest |",
        "|---|---|" + "---:|" * (len(scales) + 1),
    ]
    for fig, what in SCALE_ROWS:
        for sysname in _systems(s):
            got = s[sysname]
            if not any(f"scale.{n}.{fig}" in got for n in scales):
                continue
            vals = " | ".join(_fmt(median(got.get(f"scale.{n}.{fig}", []))) for n in scales)
            flat = _fmt(median(got[f"scale.flat.{fig}"])) if f"scale.flat.{fig}" in got else ""
            rows.append(f"| {fig}: {what} | {_title(sysname)} | {vals} | {flat} |")
    rest = " ".join(
        f"{_title(x)} {_fmt(median(s[x].get('scale.0.rss_mib', [])))} MiB" for x in _systems(s)
    )
    runs = max(len(s[x].get("scale.0.rss_mib", [])) for x in _systems(s))
    return "\n".join(rows) + (
        f"\n\nDaemon VmRSS at rest (no programs): {rest}. Medians of {runs} repetition(s)."
    )


def all_targets(s: Samples) -> list[Target]:
    """The fixed targets, and those of the scale scenario for the scales that were run."""
    out = list(TARGETS)
    scales = scales_in(s)
    for n in scales:
        out.append(
            Target(
                f"scale.{n}.rss_kib_per_prog",
                "ratio",
                1.0,
                f"scale {n}: daemon memory per program <= supervisord's (issue 8)",
            )
        )
    if len(scales) > 1:
        for fig in FLAT:
            out.append(
                Target(
                    f"scale.flat.{fig}",
                    "max",
                    1.3,
                    f"scale {scales[0]} -> {scales[-1]}: {fig} flat within 1.3x (issue 8)",
                )
            )
    return out


def targets_table(s: Samples) -> tuple[str, list[Target]]:
    others = [x for x in _systems(s) if x not in (A, B)]
    head = "| target | figure | met |" + "".join(f" {x}: figure | {x}: met |" for x in others)
    rows = [head, "|---|---|---|" + "---|---|" * len(others)]
    missed: list[Target] = []
    for t in all_targets(s):
        if t.metric not in s.get(A, {}):
            continue
        cells = []
        for sysname in (A, *others):
            ok, fig = check(t, s, sysname)
            word = "yes" if ok else ("not measured" if ok is None else "**MISSED**")
            if sysname == A and not ok:
                missed.append(t)
            cells.append(f" {fig} | {word} |")
        rows.append(f"| {t.text} |" + "".join(cells))
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
    st = scale_table(s)
    scale_section = f"\n## Scale\n\n{st}\n" if st else ""
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
{scale_section}
## Targets (from the issue)

{tt}

## Missed targets

{missed_lines}

{keep}
"""
    with open(path, "w") as f:
        f.write(text)
