"""Everything at once: 10,000 RPCs from 50 concurrent clients while 20 programs crash-loop and
20 write at full speed. No request fails, no byte of output is lost or reordered, and the
daemon's fd count and RSS stay flat. `pytest -m soak` keeps it up for 30 minutes."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, rpc_proxy, wait_until

WRITER = """
import os, sys
name, count = sys.argv[1], int(sys.argv[2])
out = sys.stdout.fileno()
for i in range(count):
    os.write(out, f"{name} {i:08d}\\n".encode())
import time
time.sleep(100000)
"""


def _config(tmp: Path, lines: int) -> str:
    writer = tmp / "writer.py"
    writer.write_text(WRITER)
    return (
        "[program:crash]\ncommand=/bin/sh -c 'sleep 0.2; exit 1'\nnumprocs=20\n"
        "process_name=%(program_name)s_%(process_num)02d\nstartsecs=0\nautorestart=true\n"
        "stdout_logfile=NONE\nstderr_logfile=NONE\n\n"
        f"[program:writer]\ncommand={sys.executable} {writer} w%(process_num)02d {lines}\n"
        "numprocs=20\nprocess_name=%(program_name)s_%(process_num)02d\nstartsecs=0\n"
        f"autostart=false\nstdout_logfile={tmp}/%(program_name)s_%(process_num)02d.log\n"
        "stdout_logfile_maxbytes=0\n"
    )


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _calls(sock: str, n: int, failures: list[str], took: list[float]) -> None:
    rpc: Any = rpc_proxy(sock)
    for i in range(n):
        t0 = time.perf_counter()
        try:
            if i % 3 == 0:
                assert len(rpc.supervisor.getAllProcessInfo()) == 40
            elif i % 3 == 1:
                rpc.supervisor.getProcessInfo("writer:writer_00")
            else:
                rpc.supervisor.getState()
        except Exception as e:
            failures.append(repr(e))
        took.append(time.perf_counter() - t0)


def _everything_at_once(
    tmp_path: Path, rpcs: int, lines: int, *, rounds: int = 1, minutes: float = 0
) -> dict[str, Any]:
    """Rounds of the load on one daemon: `rounds` of them, or as many as fit in `minutes`.
    Returns the run's figures (the soak prints them)."""
    d = Daemon(tmp_path, _config(tmp_path, lines)).start(wait=False)
    wait_until(lambda: _answers(d), timeout=20, what="corrald")
    try:
        assert d.proc is not None
        pid = d.proc.pid
        failures: list[str] = []
        took: list[float] = []
        # a first round without the load: the writers' log files are open from here on (they
        # stay open across restarts), the code paths are warm; then the baseline
        d.rpc.supervisor.startProcessGroup("writer", True)
        _all_written(tmp_path, lines)  # nothing left in a pipe when the logs are cleared
        d.rpc.supervisor.stopProcessGroup("writer")
        for i in range(20):
            d.rpc.supervisor.clearProcessLogs(f"writer:writer_{i:02d}")
        _calls(d.sock, 300, failures, [])
        fds, rss = _fds(pid), _rss_kib(pid)
        samples: list[tuple[int, int]] = []
        started = time.monotonic()
        done = 0
        while done < rounds or time.monotonic() - started < minutes * 60:
            d.rpc.supervisor.startProcessGroup("writer", False)
            with ThreadPoolExecutor(50) as pool:
                for _ in range(50):
                    pool.submit(_calls, d.sock, rpcs // 50, failures, took)
            _all_written(tmp_path, lines)
            for i in range(20):
                log = tmp_path / f"writer_{i:02d}.log"
                want = b"".join(f"w{i:02d} {n:08d}\n".encode() for n in range(lines))
                assert log.read_bytes() == want, f"{log.name}: lost or reordered"
            d.rpc.supervisor.stopProcessGroup("writer")
            for i in range(20):
                d.rpc.supervisor.clearProcessLogs(f"writer:writer_{i:02d}")  # the next round's
            done += 1
            samples.append((_fds(pid), _rss_kib(pid)))
        assert failures == []
        assert max(f for f, _ in samples) <= fds + 10, f"fds grew: {fds} -> {samples}"
        # flat: past the first rounds (allocator high-water marks), no round adds memory
        settled = samples[min(2, len(samples) - 1)][1]
        assert samples[-1][1] - rss < 16 * 1024, f"RSS grew: {rss} -> {samples}"
        assert samples[-1][1] - settled < 4 * 1024, f"RSS crept: {samples}"
        crashers = [i for i in d.rpc.supervisor.getAllProcessInfo() if i["group"] == "crash"]
        assert len(crashers) == 20 and all(i["statename"] != "FATAL" for i in crashers)
        spawns = sum(1 for line in d.log().splitlines() if "spawned: 'crash_" in line)
        assert "Traceback" not in d.log()
        took.sort()
        return {
            "minutes": round((time.monotonic() - started) / 60, 1),
            "rounds": done,
            "rpcs": len(took),
            "failed": len(failures),
            "rpc_p50_ms": round(took[len(took) // 2] * 1000, 2),
            "rpc_p99_ms": round(took[int(len(took) * 0.99)] * 1000, 2),
            "lines_checked": done * 20 * lines,
            "crash_spawns": spawns,
            "fds": [fds, samples[-1][0], max(f for f, _ in samples)],
            "rss_kib": [rss, samples[-1][1], max(r for _, r in samples)],
            "rss_kib_rounds": [r for _, r in samples],
        }
    finally:
        d.cleanup()


def _all_written(tmp: Path, lines: int) -> None:
    for i in range(20):
        log = tmp / f"writer_{i:02d}.log"
        wait_until(lambda log=log: log.stat().st_size >= lines * 13, timeout=120, what=log.name)


def _answers(d: Daemon) -> bool:
    try:
        d.rpc.supervisor.getState()
        return True
    except OSError:
        return False


def test_10000_rpcs_while_programs_crash_and_write(tmp_path: Path) -> None:
    _everything_at_once(tmp_path, 10_000, 20_000)


@pytest.mark.soak
@pytest.mark.timeout(45 * 60)
def test_soak(tmp_path: Path) -> None:
    """One daemon under the load for 30 minutes; the figures go to docs/benchmarks.md."""
    figures = _everything_at_once(tmp_path, 10_000, 20_000, minutes=30)
    print("soak:", json.dumps(figures))
    report = os.environ.get("CORRAL_SOAK_REPORT")
    if report:
        Path(report).write_text(json.dumps(figures, indent=1) + "\n")
