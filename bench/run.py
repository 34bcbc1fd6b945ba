"""Run corrald and supervisord 4.3.0 side by side: python3 bench/run.py [--quick] [--only a,b]
[SCENARIO...].

Never part of the test suite. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib import chain, console, report, scale, scenarios, web
from benchlib.daemon import become_subreaper
from benchlib.scenarios import Metrics, Params
from benchlib.systems import (
    BENCH,
    REPO,
    System,
    corral,
    ensure_corral_venv,
    ensure_supervisor_venv,
)
from benchlib.systems import supervisord as supervisord_system

ALL = [
    "startup",
    "idle",
    "logs",
    "crash",
    "rpc",
    "stopstart",
    "shutdown",
    "client",
    "scale",
    "chain",
    "console",
    "web",
]
Job = Callable[[System, str], Metrics]


def jobs(
    only: set[str], p: Params, sp: scale.ScaleParams, reps: int, scale_reps: int
) -> list[tuple[str, Job, int]]:
    """The daemon runs to make, each with its repetitions: 100- and 500-program fleets serve
    several scenarios each; the scale scenario runs every scale in one job."""
    out: list[tuple[str, Job, int]] = []
    small = only & {"startup", "shutdown"}
    big = only & {"startup", "rpc", "stopstart", "shutdown"}
    if small:
        out.append(("fleet-100", lambda s, w: scenarios.fleet(s, w, p, 100, small), reps))
    if big:
        out.append(("fleet-500", lambda s, w: scenarios.fleet(s, w, p, 500, big), reps))
    if "idle" in only:
        out.append(("idle-200", lambda s, w: scenarios.idle(s, w, p), reps))
    if "logs" in only:
        out.append(("logs", lambda s, w: scenarios.logs(s, w, p), reps))
    if "crash" in only:
        out.append(("crash", lambda s, w: scenarios.crash(s, w, p), reps))
    if "chain" in only:
        out.append(("chain", chain.chain, reps))
    if "console" in only:
        out.append(("console", lambda s, w: console.console(s, w, p), reps))
    if "web" in only:
        out.append(("web", web.web, reps))
    if "scale" in only:
        out.append(("scale", lambda s, w: scale.scale(s, w, sp), scale_reps))
    return out


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer runs and shorter windows")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(ALL)}")
    ap.add_argument("scenarios", nargs="*", help="scenarios to run (the same as --only)")
    ap.add_argument("--reps", type=int, default=0, help="repetitions per system (default 3/5)")
    ap.add_argument(
        "--scales",
        default="100,1000,5000",
        help="program counts of the scale scenario (%(default)s)",
    )
    ap.add_argument(
        "--scale-reps", type=int, default=0, help="repetitions of the scale scenario (default 1)"
    )
    ap.add_argument(
        "--corral-src",
        default=None,
        metavar="DIR",
        help="run corral from this source tree (holding corral/ or src/corral/)",
    )
    ap.add_argument(
        "--baseline-src",
        default=None,
        metavar="DIR",
        help=f"also run corral from this tree as '{report.BASE}', side by side",
    )
    ap.add_argument("--docs", action="store_true", help="write docs/benchmarks.md even with --only")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument(
        "--merge",
        default=None,
        metavar="JSON",
        help="add this earlier run's figures (bench/results/*.json) for what this run did not "
        "measure, e.g. a new scenario run on its own after a full run",
    )
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(","))) | set(args.scenarios) or set(ALL)
    if unknown := only - set(ALL):
        ap.error(f"unknown scenarios: {sorted(unknown)}")
    try:
        scales = tuple(int(x) for x in args.scales.split(",") if x)
    except ValueError:
        ap.error(f"--scales: not a list of numbers: {args.scales!r}")
    if not scales or min(scales) < 1:
        ap.error("--scales: give at least one program count, each >= 1")
    reps = args.reps or (3 if args.quick else 5)
    scale_reps = args.scale_reps or 1
    p = Params.make(args.quick)
    sp = scale.ScaleParams.make(args.quick, scales)
    become_subreaper()
    ensure_supervisor_venv()
    ensure_corral_venv()
    systems = [corral(args.corral_src)]
    if args.baseline_src:
        systems.append(corral(args.baseline_src, name=report.BASE))
    systems.append(supervisord_system())
    samples: report.Samples = {s.name: {} for s in systems}
    began = time.monotonic()
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    load_at_start = _loadavg()

    def record(sysname: str, metrics: Metrics) -> None:
        for k, v in metrics.items():
            samples[sysname].setdefault(k, []).append(v)

    for label, job, job_reps in jobs(only, p, sp, reps, scale_reps):
        for rep in range(job_reps):
            order = systems if rep % 2 == 0 else systems[::-1]  # alternate A/B, then B/A
            for system in order:
                work = tempfile.mkdtemp(prefix=f"cb-{system.name[:3]}-")
                t0 = time.monotonic()
                try:
                    got = job(system, work)
                except Exception as e:
                    print(f"[{label}] {system.name} run {rep + 1} FAILED: {e}", flush=True)
                    traceback.print_exc()
                    got = {}
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                record(system.name, got)
                brief = ", ".join(f"{k}={report._fmt(v)}" for k, v in got.items())
                took = time.monotonic() - t0
                print(f"[{label}] {system.name} run {rep + 1}/{job_reps} ({took:.1f}s): {brief}")

    if "client" in only:
        for daemon_sys in systems:
            work = tempfile.mkdtemp(prefix="cb-cli-")
            try:
                cl = scenarios.client_status(daemon_sys, systems, work, p, reps)
            except Exception as e:
                print(f"[client] daemon {daemon_sys.name} FAILED: {e}", flush=True)
                cl = {}
            finally:
                shutil.rmtree(work, ignore_errors=True)
            daemon_name = daemon_sys.name.replace("corral", "corrald", 1)
            key = f"client.status_s[{daemon_name}]"
            for client_name, values in cl.items():
                samples[client_name][key] = list(values)
            print(f"[client] daemon {daemon_sys.name}: {cl}")

    wall = time.monotonic() - began
    command = "python3 bench/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.merge:
        with open(args.merge) as f:
            earlier = json.load(f)
        for sysname, metrics in earlier["samples"].items():
            for k, v in metrics.items():
                samples.setdefault(sysname, {}).setdefault(k, v)
        command = f"{earlier['command']}; then {command}"
    print()
    print(report.table(samples))
    print()
    if st := report.scale_table(samples):
        print(st)
        print()
    tt, _missed = report.targets_table(samples)
    print(tt)
    load = f"load average {load_at_start} at start, {_loadavg()} at end"
    print(f"\nbench wall time {wall:.0f} s; {load}")
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    with open(os.path.join(BENCH, "results", "latest.json"), "w") as f:
        meta = {"date": when, "command": command, "load_at_start": load_at_start}
        json.dump({**meta, "samples": samples}, f, indent=1)
    if (not args.no_docs) and (args.docs or only == set(ALL)):
        report.write_docs(
            os.path.join(REPO, "docs", "benchmarks.md"), samples, when, command.strip(), reps, wall
        )
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
