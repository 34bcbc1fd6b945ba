"""Per-process figures read straight from /proc (no psutil, so the bench runs on a bare python3)."""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []


def cpu_seconds(pid: int) -> float:
    """User+system CPU of the whole process, exited threads included (10 ms resolution)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def cpu_ns(pid: int) -> int:
    """On-CPU nanoseconds summed over live threads (fine resolution for idle measurements)."""
    total = 0
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches summed over live threads: each one is a wake-up."""
    vol = invol = 0
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        invol += int(line.split()[1])
        except OSError:
            pass
    return vol, invol


def thread_count(pid: int) -> int:
    return len(_tasks(pid))


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def status_kib(pid: int, field: str) -> int:
    """One `kB` field of /proc/<pid>/status (VmRSS, RssAnon, VmHWM...), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pid: int) -> int:
    """Proportional set size (shared pages split among their users), from smaps_rollup."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def children(pid: int) -> list[int]:
    """Direct children of pid (from every thread's children list)."""
    out: list[int] = []
    for tid in _tasks(pid):
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out
