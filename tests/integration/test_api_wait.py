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

from tests.support import Daemon

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


def wakeups_between(d: Daemon, start: float, end: float) -> int:
    """The daemon's voluntary context switches (times it slept and was woken) from `start` to
    `end` seconds after now."""
    assert d.proc is not None
    p = psutil.Process(d.proc.pid)
    time.sleep(start)
    before = p.num_ctx_switches().voluntary
    time.sleep(end - start)
    return p.num_ctx_switches().voluntary - before


def logged_at(d: Daemon, text: str) -> float:
    """When the main log line holding `text` was written (its millisecond timestamp)."""
    line = next(ln for ln in d.log().splitlines() if text in ln)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_start_with_wait_answers_as_it_enters_running_and_sleeps_until(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    d = daemon(PROGRAMS, supervisord="loglevel=info")
    d.wait_state("stubborn", "RUNNING")
    call = Pending(lambda: d.rpc.supervisor.startProcess("slow", True))
    # Between the spawn and the startsecs timer, nothing at all runs in the daemon.
    assert wakeups_between(d, 0.4, 1.7) == 0
    call.join()
    assert call.result is True
    assert d.info("slow")["statename"] == "RUNNING"
    running = logged_at(d, "success: slow entered RUNNING state")
    assert 2.0 <= running - call.sent < 2.2
    # The answer follows the state change at once, not at the next poll.
    assert -0.002 <= call.answered - running < 0.03, (call.answered, running)


def test_stop_with_wait_answers_right_after_the_sigkill(
    tmp_path: Path, daemon: Callable[..., Daemon]
) -> None:
    d = daemon(PROGRAMS, supervisord="loglevel=info")
    d.wait_state("stubborn", "RUNNING")
    call = Pending(lambda: d.rpc.supervisor.stopProcess("stubborn", True))
    assert wakeups_between(d, 0.2, 0.9) == 0
    call.join()
    assert call.result is True
    killed = logged_at(d, "with SIGKILL")
    stopped = logged_at(d, "stopped: stubborn (terminated by SIGKILL)")
    assert 1.0 <= killed - call.sent < 1.15
    assert -0.002 <= call.answered - stopped < 0.03, (call.answered, stopped)
    assert d.info("stubborn")["statename"] == "STOPPED"
