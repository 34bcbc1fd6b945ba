"""The physical floor of spawning: a bare os.posix_spawn loop of N copies of one command.

    python3 spawnfloor.py [--fds-per-child K] N COMMAND [ARG...]

Prints the seconds the loop took (perf_counter around the loop only), then kills and reaps
the children. glibc's posix_spawn returns once the child has exec'd, so the figure covers
fork+exec of every child, as a daemon's "spawned:" line does, and nothing a daemon adds
(pipes, log files, bookkeeping).

With --fds-per-child K the loop also opens K close-on-exec descriptors after each spawn, so
the parent's fd table grows as a daemon's does (its pipes and log files): the kernel copies
that table into every child and closes it again at exec, a cost that grows with the number
of programs already running and that no daemon can avoid with fork/vfork+exec.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    args = argv[1:]
    per_child = 0
    if args[0] == "--fds-per-child":
        per_child, args = int(args[1]), args[2:]
    n = int(args[0])
    cmd = args[1:]
    env = dict(os.environ)
    pids: list[int] = []
    held: list[int] = []
    null = "/dev/null"
    t0 = time.perf_counter()
    for _ in range(n):
        pids.append(os.posix_spawn(cmd[0], cmd, env))
        for _ in range(per_child):
            held.append(os.open(null, os.O_RDONLY | os.O_CLOEXEC))
    took = time.perf_counter() - t0
    for fd in held:
        os.close(fd)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for pid in pids:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    print(f"{took:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
