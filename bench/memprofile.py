"""Where corrald's memory per process goes.

    python3 bench/memprofile.py [--n 2000] [--corral-src DIR]

Starts corrald under bench/programs/memprobe.py with no programs and with N idle programs
(startsecs=0, the bench's usual config), once plain and once under tracemalloc, probes each
once all are RUNNING, and prints the difference divided by N: VmRSS before and after a full
gc.collect() and after malloc_trim(0), live traced bytes by source line (the innermost
frame inside the corral package, and the innermost frame of all) and by module, and objects
by type (gc census). Never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchlib.daemon import PROGRAMS, LogTail, become_subreaper, idle_programs, write_config
from benchlib.systems import CORRAL_VENV, corral, ensure_corral_venv


def _label(frame: tracemalloc.Frame) -> str:
    f = frame.filename
    i = f.rfind("/corral/")
    if i >= 0:
        f = f[i + 1 :]
    elif "/lib/python" in f:
        f = "stdlib:" + f.rsplit("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{f}:{frame.lineno}"


def _ours(snap: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    """The daemon's allocations, without the probe's own (its sample list grows with time)."""
    return snap.filter_traces([tracemalloc.Filter(False, "*/memprobe.py", all_frames=True)])


def _by(snap: tracemalloc.Snapshot, key: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for tr in _ours(snap).traces:
        frames = list(reversed(tr.traceback))  # most recent call first
        ours = next((f for f in frames if "/corral/" in f.filename), None)
        if key == "innermost":
            label = _label(frames[0])
        elif ours is None:
            label = "(outside corral) " + _label(frames[0])
        elif key == "module":
            label = _label(ours).rsplit(":", 1)[0]
        else:
            label = _label(ours)
        out[label] += tr.size
    return out


def probe(env: dict[str, str], n: int, frames: int) -> dict[str, Any]:
    work = tempfile.mkdtemp(prefix="cb-mem-")
    try:
        os.makedirs(os.path.join(work, "logs"))
        conf = write_config(
            work,
            idle_programs(n, os.path.join(work, "logs"), startsecs=0),
            minfds=max(4096, 3 * n + 1024),
            minprocs=n + 200,
        )
        trigger, out = os.path.join(work, "trigger"), os.path.join(work, "snap.pickle")
        py = os.path.join(CORRAL_VENV, "bin", "python")
        trace = ["-X", f"tracemalloc={frames}"] if frames else []
        argv = [py, *trace, os.path.join(PROGRAMS, "memprobe.py")]
        argv += [trigger, out, "-n", "-s", "-c", conf]
        err = open(os.path.join(work, "stderr"), "wb")  # noqa: SIM115
        proc = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        log = LogTail(os.path.join(work, "main.log"))
        try:
            deadline = time.monotonic() + 120 + 0.2 * n
            while not (
                log.count("success") >= n and any("started with pid" in e.text for e in log.events)
            ):
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(os.path.join(work, "stderr"), errors="replace") as f:
                        raise RuntimeError(f"corrald under memprobe: {f.read()[-2000:]}")
                time.sleep(0.1)
                log.poll()
            time.sleep(1.0)
            open(trigger, "w").close()
            while not os.path.exists(out):
                if proc.poll() is not None:
                    raise RuntimeError("corrald exited before the snapshot")
                time.sleep(0.1)
            with open(out, "rb") as f:
                data: dict[str, Any] = pickle.load(f)
            log.poll()
            data["first_line_ts"] = log.events[0].ts
            data["last_success_ts"] = max(
                (e.ts for e in log.events if e.kind == "success"), default=0.0
            )
            return data
        finally:
            proc.kill()
            proc.wait()
            from benchlib.daemon import reap_orphans

            reap_orphans()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _table(title: str, rows: list[tuple[str, float, float | None]], top: int) -> list[str]:
    counted = any(r[2] is not None for r in rows)
    lines = [f"### {title}", ""]
    lines.append("| where | bytes per process |" + (" objects per process |" if counted else ""))
    lines.append("|---|---:|" + ("---:|" if counted else ""))
    for label, per, count in rows[:top]:
        extra = f" {count:.2f} |" if count is not None else ""
        lines.append(f"| `{label}` | {per:.0f} |{extra}")
    return [*lines, ""]


def _at(data: dict[str, Any], ts: float) -> int:
    """Traced bytes at the last sample taken at or before ts (wall clock)."""
    before = [b for t, b in data["samples"] if t <= ts]
    return before[-1] if before else 0


def _phases(base: dict[str, Any], big: dict[str, Any], n: int) -> list[str]:
    """Traced KiB per process when the config has been read (the first log line), the most
    during spawning, and once all are RUNNING (samples every 10 ms, log stamps to 1 ms)."""
    b0 = _at(base, base["first_line_ts"])
    read = (_at(big, big["first_line_ts"]) - b0) / n / 1024
    spawning = [b for t, b in big["samples"] if big["first_line_ts"] <= t <= big["last_success_ts"]]
    most = (max(spawning, default=0) - b0) / n / 1024
    done = (_at(big, big["last_success_ts"]) - b0) / n / 1024
    return [
        f"Traced KiB per process over start-up (10 ms samples): {read:.2f} once the config is "
        f"read (first log line), {most:.2f} at most while spawning, {done:.2f} when all are "
        "RUNNING.",
        "",
    ]


def _per(big: dict[str, Any], base: dict[str, Any], key: str, n: int) -> float:
    return float(big[key] - base[key]) / n


def report(
    plain: tuple[dict[str, Any], dict[str, Any]],
    traced: tuple[dict[str, Any], dict[str, Any]] | None,
    n: int,
    top: int,
) -> str:
    base, big = plain
    out = [f"## corrald memory per process at {n} programs ({n} programs minus none)", ""]
    out.append("Without tracemalloc (KiB per process):")
    out.append("")
    out.append(f"- VmRSS once all are RUNNING: {_per(big, base, 'rss_before_gc_kib', n):.2f}")
    out.append(
        f"- VmRSS after a full gc.collect() (unreachable objects found: "
        f"{big['unreachable']}; it also empties the interpreter's free lists): "
        f"{_per(big, base, 'rss_kib', n):.2f}"
    )
    out.append(
        f"- VmRSS after gc.collect() and malloc_trim(0): "
        f"{_per(big, base, 'rss_after_trim_kib', n):.2f}"
    )
    out.append("")
    if traced is not None:
        base, big = traced
        live = [sum(t.size for t in _ours(x["snapshot"]).traces) for x in (base, big)]
        per = (live[1] - live[0]) / n
        peak = (big["traced"][1] - base["traced"][1]) / n
        out.append(
            f"With tracemalloc: live Python allocations {per / 1024:.2f} KiB per process; "
            f"their peak since start {peak / 1024:.2f} KiB per process."
        )
        out += _phases(base, big, n)
        out.append("")
        for key, title in (
            ("module", "By the corral module of the innermost corral frame"),
            ("corral", "By the innermost frame inside corral"),
            ("innermost", "By the innermost frame"),
        ):
            a, b = _by(base["snapshot"], key), _by(big["snapshot"], key)
            diff: list[tuple[str, float, float | None]] = [
                (k, (b.get(k, 0) - a.get(k, 0)) / n, None) for k in set(a) | set(b)
            ]
            out += _table(title, sorted(diff, key=lambda r: -r[1]), top)
    base, big = plain  # a census under tracemalloc would count its snapshot's tuples
    for key, title in (
        ("census", "Live objects by type after gc.collect() (shallow sizes)"),
        ("garbage", "Unreachable cycles gc.collect() freed, by type (shallow sizes)"),
    ):
        ca, cb = base[key], big[key]
        rows: list[tuple[str, float, float | None]] = []
        for t in set(ca) | set(cb):
            c0, s0 = ca.get(t, (0, 0))
            c1, s1 = cb.get(t, (0, 0))
            rows.append((t, (s1 - s0) / n, (c1 - c0) / n))
        rows.sort(key=lambda r: -r[1])
        if rows and max(abs(r[1]) for r in rows) >= 1:
            out += _table(title, rows, top)
        else:
            out += [f"### {title}", "", "none (under a byte per process)", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="programs (default 2000)")
    ap.add_argument("--corral-src", default=None, help="run corral from this source tree")
    ap.add_argument(
        "--frames", type=int, default=10, help="tracemalloc frames (default 10; 0: no tracing)"
    )
    ap.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    args = ap.parse_args(argv)
    become_subreaper()
    if args.corral_src is None or not os.path.exists(os.path.join(CORRAL_VENV, "bin", "python")):
        ensure_corral_venv()
    env = corral(args.corral_src).env
    plain = probe(env, 0, 0), probe(env, args.n, 0)
    traced = (probe(env, 0, args.frames), probe(env, args.n, args.frames)) if args.frames else None
    print(report(plain, traced, args.n, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
