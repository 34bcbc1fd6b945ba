"""Run corrald in this interpreter with a watcher thread that dumps where its memory is.

    python -X tracemalloc=10 memprobe.py TRIGGER OUT corrald-args...

When the file TRIGGER appears, the watcher (the daemon's loop keeps running meanwhile)
reads VmRSS, collects garbage, reads it again, and writes OUT (a pickle): the tracemalloc
snapshot (when tracing), a census by type (count, shallow bytes) of the garbage the
collection freed and of the gc-tracked objects left,
and VmRSS once more after glibc's malloc_trim(0) (memory freed but kept by the allocator);
then removes TRIGGER. Used by bench/memprofile.py; the daemon code is imported as-is,
nothing in it is patched.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import pickle
import sys
import threading
import time
import tracemalloc


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def census(objs: list[object]) -> dict[str, tuple[int, int]]:
    """type (module.qualname) -> (count, shallow bytes) of objs, plus the str/bytes/int
    objects they refer to directly (not tracked by gc themselves)."""
    counts: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    seen: set[int] = set()
    untracked: list[object] = []
    for o in objs:
        seen.add(id(o))
    for o in objs:
        t = type(o)
        c = counts[f"{t.__module__}.{t.__qualname__}"]
        c[0] += 1
        c[1] += sys.getsizeof(o)
        for r in gc.get_referents(o):
            if id(r) not in seen and not gc.is_tracked(r):
                seen.add(id(r))
                untracked.append(r)
    for o in untracked:
        t = type(o)
        c = counts[f"{t.__module__}.{t.__qualname__}"]
        c[0] += 1
        c[1] += sys.getsizeof(o)
    del untracked
    return {k: (v[0], v[1]) for k, v in counts.items()}


def watch(trigger: str, out: str) -> None:
    # (wall time, traced bytes now) every 10 ms until the trigger: which phase of start-up
    # (reading the config, spawning) holds the peak
    samples: list[tuple[float, int]] = []
    tracing = tracemalloc.is_tracing()
    while not os.path.exists(trigger):
        if tracing:
            samples.append((time.time(), tracemalloc.get_traced_memory()[0]))
        time.sleep(0.01 if tracing else 0.2)
    rss_before_gc = _rss_kib()
    # what the collection frees: unreachable cycles, kept aside to be counted by type
    gc.set_debug(gc.DEBUG_SAVEALL)
    unreachable = gc.collect()
    gc.set_debug(0)
    garbage = census(gc.garbage)
    gc.garbage.clear()
    gc.collect()
    rss = _rss_kib()
    data = {
        "samples": samples,
        "rss_before_gc_kib": rss_before_gc,
        "unreachable": unreachable,
        "gc_counts": gc.get_count(),
        "rss_kib": rss,
        "traced": tracemalloc.get_traced_memory() if tracing else (0, 0),
        "snapshot": tracemalloc.take_snapshot() if tracing else None,
    }
    data["census"] = census(gc.get_objects())
    data["garbage"] = garbage
    ctypes.CDLL(None).malloc_trim(0)
    data["rss_after_trim_kib"] = _rss_kib()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(data, f)
    os.rename(tmp, out)
    os.unlink(trigger)


def main() -> int:
    trigger, out, *args = sys.argv[1:]
    threading.Thread(target=watch, args=(trigger, out), daemon=True).start()
    from corral.daemon.main import main as corrald

    sys.argv = ["corrald", *args]
    return corrald() or 0


if __name__ == "__main__":
    sys.exit(main())
