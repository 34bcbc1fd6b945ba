"""CPU, memory and fds of the daemon's children (and its own), read from /proc by psutil:
for /metrics, the dashboard's stats and corralctl top."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor


def child_stats(pid: int) -> tuple[float, int, int] | None:
    """CPU seconds, resident bytes, open fds of one live process (None when it is gone)."""
    try:
        p = psutil.Process(pid)
        with p.oneshot():
            cpu = p.cpu_times()
            return cpu.user + cpu.system, p.memory_info().rss, p.num_fds()
    except (psutil.Error, OSError):
        return None


class CpuSampler:
    """CPU % and RSS of each running child between two calls (the dashboard's `stats`)."""

    def __init__(self, sup: Supervisor) -> None:
        self._sup = sup
        self._last: dict[int, tuple[float, float]] = {}  # pid -> (cpu seconds, when)

    def sample(self) -> dict[str, list[float]]:
        now = time.monotonic()
        out: dict[str, list[float]] = {}
        seen: dict[int, tuple[float, float]] = {}
        for proc in self._sup.processes():
            if not proc.pid:
                continue
            st = child_stats(proc.pid)
            if st is None:
                continue
            cpu, rss = st[0], st[1]
            prev = self._last.get(proc.pid)
            pct = 0.0
            if prev is not None and now > prev[1]:
                pct = max(0.0, (cpu - prev[0]) / (now - prev[1]) * 100)
            seen[proc.pid] = (cpu, now)
            out[proc.namespec] = [round(pct, 1), rss]
        self._last = seen
        return out
