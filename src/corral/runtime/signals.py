"""Signal handlers only enqueue; the supervisor's loop consumes the queue and acts by name."""

from __future__ import annotations

import asyncio
import signal

# Signals that mean something to us; anything else that would kill us by default gets a
# no-op handler (a caught signal, unlike SIG_IGN, is reset to default in children).
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR2)
IGNORED = (
    signal.SIGUSR1,
    signal.SIGALRM,
    signal.SIGVTALRM,
    signal.SIGPROF,
    signal.SIGIO,
    signal.SIGPWR,
    signal.SIGTTIN,
    signal.SIGTTOU,
    signal.SIGXCPU,
    signal.SIGXFSZ,
)


def install(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[signal.Signals]) -> None:
    for sig in HANDLED + IGNORED:
        loop.add_signal_handler(sig, queue.put_nowait, signal.Signals(sig))


def uninstall(loop: asyncio.AbstractEventLoop) -> None:
    for sig in HANDLED + IGNORED:
        loop.remove_signal_handler(sig)
