"""`wait=True` awaits the state change itself: the answer leaves as the state changes, and
the daemon sleeps meanwhile (4.3 re-checks a pending call every 0.05-0.1 s)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from tests.support import Daemon, wait_quiet, wait_signal_handled, wait_until

PROGRAMS = """\
[program:slow]
command=/bin/sleep 1000
startsecs=2
autostart=false

[program:stubborn]
command=/bin/sh -c "trap '' TERM; exec /bin/sleep 1000"
startsecs=0
stopwaitsecs=1
"""


class Pending:
    """One XML-RPC call on a thread; `answered` is the wall-clock time its answer came."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.sent = time.time()
        self.answered = 0.0
        self.result: Any = None
        self._thread = threading.Thread(target=self._run, args=(call,))
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        self.result = call()
        self.answered = time.time()

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive()


# How long the daemon must stay asleep to count as settled: longer than 4.3's re-check
# interval, so a daemon that polls a pending call never settles.
SETTLE = 0.2


def idle_daemon(d: Daemon) -> tuple[psutil.Process, int]:
    """The daemon once it sleeps, and its count of voluntary context switches then."""
    assert d.proc is not None
    return psutil.Process(d.proc.pid), wait_quiet(d.proc.pid, SETTLE)


def wakeups_until(p: psutil.Process, idle: int, end: float) -> int:
    """The daemon's voluntary context switches (times it slept and was woken) from when it has
    handled the call just sent (it woke since `idle`, then settled) to the wall-clock `end`.

    Waiting for these two conditions, not a fixed delay, is what keeps this exact on a loaded
    machine: the window starts when the daemon is done with the request, however late."""
    wait_until(lambda: p.num_ctx_switches().voluntary > idle, what="the daemon to take the call")
    last = p.num_ctx_switches().voluntary
    while True:
        time.sleep(SETTLE)
        now = p.num_ctx_switches().voluntary
        if now == last:
            break
        last = now
        assert time.time() < end - 0.3, "the daemon never slept between the request and the timer"
    assert end - time.time() >= 0.3, "too little of the wait left to watch"
    time.sleep(end - time.time())
    return p.num_ctx_switches().voluntary - last


def logged_at(d: Daemon, text: str) -> float:
    """When the main log line holding `text` was written (its millisecond timestamp)."""
    line = next(ln for ln in d.log().splitlines() if text in ln)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_start_with_wait_answers_as_it_enters_running_and_sleeps_until(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    d = daemon(PROGRAMS)
    d.wait_state("stubborn", "RUNNING")
    p, idle = idle_daemon(d)
    call = Pending(lambda: d.rpc.supervisor.startProcess("slow", True))
    # Between the spawn and the startsecs timer (2 s after the spawn, which follows `sent`),
    # nothing at all runs in the daemon.
    assert wakeups_until(p, idle, call.sent + 1.7) == 0
    call.join()
    assert call.result is True
    assert d.info("slow")["statename"] == "RUNNING"
    running = logged_at(d, "success: slow entered RUNNING state")
    # startsecs, not the next tick after it (4.3 checks once a second)
    assert 2.0 <= running - call.sent < 2.5
    # The answer follows the state change: with no wake-up in between (above), nothing but the
    # change itself can have sent it. The bound leaves room for this test's own thread to be
    # scheduled on a loaded machine.
    assert -0.002 <= call.answered - running < 0.25, (call.answered, running)


def test_stop_with_wait_answers_right_after_the_sigkill(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    d = daemon(PROGRAMS)
    # a TERM that comes before the shell's trap is set ends it at once
    wait_signal_handled(d.wait_state("stubborn", "RUNNING")["pid"])
    p, idle = idle_daemon(d)
    call = Pending(lambda: d.rpc.supervisor.stopProcess("stubborn", True))
    # Between the TERM and the SIGKILL (stopwaitsecs=1 after it), the daemon sleeps.
    assert wakeups_until(p, idle, call.sent + 0.9) == 0
    call.join()
    assert call.result is True
    killed = logged_at(d, "with SIGKILL")
    stopped = logged_at(d, "stopped: stubborn (terminated by SIGKILL)")
    assert 1.0 <= killed - call.sent < 1.5
    assert -0.002 <= call.answered - stopped < 0.25, (call.answered, stopped)
    assert d.info("stubborn")["statename"] == "STOPPED"
