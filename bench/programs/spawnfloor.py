"""The physical floor of spawning: a bare os.posix_spawn loop of N copies of one command.

    python3 spawnfloor.py [--fds-per-child K | --log-dir DIR] N COMMAND [ARG...]

Prints the seconds the loop took (perf_counter around the loop only), then kills and reaps
the children. glibc's posix_spawn returns once the child has exec'd, so the figure covers
fork+exec of every child, as a daemon's "spawned:" line does, and nothing a daemon adds
(pipes, log files, bookkeeping).

With --fds-per-child K the loop also opens K close-on-exec descriptors after each spawn, so
the parent's fd table grows as a daemon's does (its pipes and log files): the kernel copies
that table into every child and closes it again at exec, a cost that grows with the number
of programs already running and that no daemon can avoid with fork/vfork+exec.

With --log-dir DIR each child also gets what any supervisor that logs its output must make
for it: a pipe as its stdout and stderr, and a new log file in DIR (created, kept open). On
a disk where creating a file costs as much as a spawn (some VMs), this is the floor a
daemon's spawning is measured against fairly.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    args = argv[1:]
    per_child = 0
    log_dir = ""
    if args[0] == "--fds-per-child":
        per_child, args = int(args[1]), args[2:]
    elif args[0] == "--log-dir":
        log_dir, args = args[1], args[2:]
    n = int(args[0])
    cmd = args[1:]
    env = dict(os.environ)
    pids: list[int] = []
    held: list[int] = []
    null = "/dev/null"
    t0 = time.perf_counter()
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    for i in range(n):
        if log_dir:
            held.append(os.open(os.path.join(log_dir, f"p{i:04d}.log"), flags, 0o644))
            r, w = os.pipe2(os.O_CLOEXEC)
            actions = [(os.POSIX_SPAWN_DUP2, w, 1), (os.POSIX_SPAWN_DUP2, w, 2)]
            pids.append(os.posix_spawn(cmd[0], cmd, env, file_actions=actions))
            os.close(w)
            held.append(r)
            continue
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
