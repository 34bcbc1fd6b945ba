"""daemon/heap.py: with its thresholds, a burst of large short-lived buffers (what a loop
iteration of busy pipes makes) is served again from the heap instead of being handed back
to the kernel and faulted in anew each time. Run in a fresh interpreter each way."""

from __future__ import annotations

import os
import subprocess
import sys

BURST = (
    "import resource, sys\n"
    "if sys.argv[1] == 'tuned':\n"
    "    from corral.daemon import heap\n"
    "    assert heap.tune()\n"
    "def burst():\n"
    "    held = [b'x' * 300_000 for _ in range(8)]\n"  # 2.4 MB alive at once, then freed
    "    del held\n"
    "burst()\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for _ in range(100):\n"
    "    burst()\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


def faults(mode: str) -> int:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", BURST, mode], env=env, capture_output=True, check=True, timeout=60
    )
    return int(out.stdout)


def test_tuned_bursts_reuse_the_heap() -> None:
    plain, tuned = faults("plain"), faults("tuned")
    # 100 bursts of 2.4 MB: ~58,000 page faults if every burst is faulted in again
    assert plain > 20_000, plain
    assert tuned < 2_000, tuned
