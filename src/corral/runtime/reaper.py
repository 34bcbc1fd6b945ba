"""The only caller of waitpid: reaps every child on SIGCHLD and routes each status by pid.

Strangers (orphans re-parented to us when we are PID 1) are reaped too, so no zombie is left.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

from corral.config.convert import signal_name
from corral.logs.mainlog import MainLog
from corral.runtime.spawn import reap_gate

ExitCallback = Callable[[int], None]


def describe_status(status: int) -> tuple[int, str]:
    """(exit code as Supervisor reports it, text): -1 and 'terminated by SIGX' for signals."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal_name(sig)
        text = f"terminated by {name}"
        if os.WCOREDUMP(status):
            text += " (core dumped)"
        return -1, text
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return code, f"exit status {code}"


class Reaper:
    def __init__(self, mainlog: MainLog) -> None:
        self._log = mainlog
        self._watched: dict[int, ExitCallback] = {}

    def watch(self, pid: int, callback: ExitCallback) -> None:
        self._watched[pid] = callback

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGCHLD, self.reap)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.remove_signal_handler(signal.SIGCHLD)

    def reap(self) -> None:
        """Collect every child that has exited; called from the loop, never from a handler.
        The waitpid loop runs inside `reap_gate`, so it never takes a child whose failed
        exec a spawn call is waiting for; the callbacks run after it (they may spawn)."""
        done: list[tuple[int, int]] = []
        with reap_gate:
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
                if pid == 0:
                    break
                done.append((pid, status))
        for pid, status in done:
            callback = self._watched.pop(pid, None)
            if callback is None:
                _, text = describe_status(status)
                self._log.info(f"reaped unknown pid {pid} ({text})")
                continue
            callback(status)
