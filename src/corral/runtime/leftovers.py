"""The programs of a corrald that was killed (SIGKILL, OOM): found and ended before this one
starts its own, so no program runs twice.

Only when the pidfile is still there and names a process that is gone (a clean exit removes
it): then the processes whose environment says they were started for this daemon's server
(SUPERVISOR_ENABLED=1 and the same SUPERVISOR_SERVER_URL) and that no live corrald owns are
sent SIGTERM (their process group when they lead one), and SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

    from corral.logs.mainlog import MainLog

GRACE = 5.0  # seconds a leftover has to exit on SIGTERM


def previous_died(pidfile: str) -> bool:
    """The pidfile names a corrald that is no longer running."""
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True  # our own pid again (a container restarted): that daemon is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def find(server_url: str) -> list[psutil.Process]:
    import psutil  # only when a predecessor died: a normal start never loads it here

    me = os.getpid()
    found = []
    for proc in psutil.process_iter(["pid", "ppid"]):
        if proc.pid == me or proc.info["ppid"] == me:
            continue
        try:
            env = proc.environ()
        except (psutil.Error, OSError):
            continue  # gone, or not ours to read
        if env.get("SUPERVISOR_ENABLED") == "1" and env.get("SUPERVISOR_SERVER_URL") == server_url:
            found.append(proc)
    return found


def end_leftovers(pidfile: str, server_url: str | None, log: MainLog) -> int:
    """End what a killed predecessor left running; the number ended."""
    if not server_url or not previous_died(pidfile):
        return 0
    import psutil

    procs = find(server_url)
    for proc in procs:
        name = proc.environ().get("SUPERVISOR_PROCESS_NAME", "?") if proc.is_running() else "?"
        log.warn(f"ending {name} (pid {proc.pid}), left running by a corrald that was killed")
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, signal.SIGTERM)  # the group it leads, as a stop would
            else:
                proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=GRACE)
    for proc in alive:
        with contextlib.suppress(psutil.Error, OSError):
            proc.kill()
    return len(procs)
