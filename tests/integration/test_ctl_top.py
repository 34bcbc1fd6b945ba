"""`corralctl top` on a real terminal (a pty): it draws every process with CPU and memory,
redraws as the daemon changes, acts on the selected row, and quits on q."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import sys
import termios
from pathlib import Path

import pyte

from corral.ctl.commands.top import table
from tests.integration.test_ctl_shell import Terminal
from tests.support import Daemon, env_for_children, wait_until


class Screen:
    """What the terminal shows: the pty's bytes run through a terminal emulator (pyte), since
    curses redraws only what changed."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        self.screen = pyte.Screen(100, 30)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        """Read what the pty has now, and the screen it makes."""
        while select.select([self.term.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.term.master, 65536)
            except OSError:  # EIO: corralctl closed the terminal
                break
            if not chunk:
                break
            self.stream.feed(chunk)
        return "\n".join(self.screen.display)

    def wait(self, text: str) -> str:
        return str(wait_until(lambda: text in (t := self.text()) and t, timeout=15, what=text))


PROGRAMS = """
[program:alpha]
command=sleep 1000
startsecs=0

[program:beta]
command=sleep 1001
startsecs=0
"""


def test_top_draws_acts_and_quits(tmp_path: Path) -> None:
    d = Daemon(tmp_path, PROGRAMS).start()
    try:
        env = {**env_for_children(), "TERM": "xterm", "LINES": "30", "COLUMNS": "100"}
        term = Terminal([sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), "top"], env)
        fcntl.ioctl(term.master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        screen = Screen(term)
        shown = screen.wait("2 of 2 running")
        assert "RSS" in shown and "alpha" in shown and "beta" in shown
        beta = d.info("beta")["pid"]
        term.type("j")  # select beta
        term.type("r")  # restart it
        screen.wait("beta: restarted")
        wait_until(lambda: d.info("beta")["pid"] not in (0, beta), what="beta's new pid")
        assert d.info("alpha")["statename"] == "RUNNING"
        term.type("x")  # stop the selected one (still beta)
        screen.wait("beta: stopped")
        d.wait_state("beta", "STOPPED")
        d.rpc.supervisor.stopProcess("alpha")  # a change made elsewhere: redrawn by itself
        screen.wait("0 of 2 running")
        term.type("q")
        assert term.close() == 0
    finally:
        d.cleanup()


def test_top_rows_fit_the_width() -> None:
    infos = [
        {
            "group": "web",
            "name": "web_0",
            "statename": "RUNNING",
            "pid": 42,
            "start": 100,
            "now": 3761,
            "restarts": 2,
        },
        {"group": "db", "name": "db", "statename": "STOPPED", "pid": 0, "start": 0, "now": 0},
    ]
    rows = table(infos, {"web:web_0": [12.5, 3 * 1024 * 1024]}, 100)
    assert rows[1].split() == ["web:web_0", "RUNNING", "42", "1:01:01", "12.5", "3.0M", "2"]
    assert rows[2].split() == ["db", "STOPPED"]
    assert all(len(r) <= 40 for r in table(infos, {}, 40))
