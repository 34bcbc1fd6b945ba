"""Run corrald and supervisord 4.3.0 side by side: python3 bench/run.py [--quick] [--only a,b].

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

from benchlib import report, scenarios
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

ALL = ["startup", "idle", "logs", "crash", "rpc", "stopstart", "shutdown", "client"]
Job = Callable[[System, str], Metrics]


def jobs(only: set[str], p: Params) -> list[tuple[str, Job]]:
    """The daemon runs to make: 100- and 500-program fleets serve several scenarios each."""
    out: list[tuple[str, Job]] = []
    small = only & {"startup", "shutdown"}
    big = only & {"startup", "rpc", "stopstart", "shutdown"}
    if small:
        out.append(("fleet-100", lambda s, w: scenarios.fleet(s, w, p, 100, small)))
    if big:
        out.append(("fleet-500", lambda s, w: scenarios.fleet(s, w, p, 500, big)))
    if "idle" in only:
        out.append(("idle-200", lambda s, w: scenarios.idle(s, w, p)))
    if "logs" in only:
        out.append(("logs", lambda s, w: scenarios.logs(s, w, p)))
    if "crash" in only:
        out.append(("crash", lambda s, w: scenarios.crash(s, w, p)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer runs and shorter windows (< 5 min)")
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(ALL)}")
    ap.add_argument("--reps", type=int, default=0, help="repetitions per system (default 3/5)")
    ap.add_argument("--docs", action="store_true", help="write docs/benchmarks.md even with --only")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(","))) or set(ALL)
    if unknown := only - set(ALL):
        ap.error(f"unknown scenarios: {sorted(unknown)}")
    reps = args.reps or (3 if args.quick else 5)
    p = Params.make(args.quick)
    become_subreaper()
    ensure_supervisor_venv()
    ensure_corral_venv()
    systems = [corral(), supervisord_system()]
    samples: report.Samples = {s.name: {} for s in systems}
    began = time.monotonic()
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

    def record(sysname: str, metrics: Metrics) -> None:
        for k, v in metrics.items():
            samples[sysname].setdefault(k, []).append(v)

    for label, job in jobs(only, p):
        for rep in range(reps):
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
                print(f"[{label}] {system.name} run {rep + 1}/{reps} ({took:.1f}s): {brief}")

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
            key = f"client.status_s[{'corrald' if daemon_sys.name == 'corral' else 'supervisord'}]"
            for client_name, values in cl.items():
                samples[client_name][key] = list(values)
            print(f"[client] daemon {daemon_sys.name}: {cl}")

    wall = time.monotonic() - began
    print()
    print(report.table(samples))
    print()
    tt, _missed = report.targets_table(samples)
    print(tt)
    print(f"\nbench wall time {wall:.0f} s")
    command = "python3 bench/run.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    os.makedirs(os.path.join(BENCH, "results"), exist_ok=True)
    with open(os.path.join(BENCH, "results", "latest.json"), "w") as f:
        json.dump({"date": when, "command": command, "samples": samples}, f, indent=1)
    if (not args.no_docs) and (args.docs or only == set(ALL)):
        report.write_docs(
            os.path.join(REPO, "docs", "benchmarks.md"), samples, when, command.strip(), reps, wall
        )
        print("wrote docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
