"""corralctl's interactive shell on a real terminal (a pty): status first, then the prompt;
Tab completes command and process names from the live daemon; the history file keeps what
was typed, and the up arrow recalls it."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support import Daemon, env_for_children

PROGRAMS = """
[program:app]
command=sleep 1000
startsecs=0

[program:other]
command=sleep 1000
startsecs=0
"""
APP_LINE = "app                              RUNNING"
OTHER_LINE = "other                            RUNNING"


class Terminal:
    """corralctl on the slave side of a pty; what it wrote is read from the master side."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.seen = ""

    def expect(self, text: str, count: int = 1, timeout: float = 15.0) -> str:
        """Read until `text` has appeared `count` times in everything read so far."""
        deadline = time.monotonic() + timeout
        while self.seen.count(text) < count:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r} x{count} in:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                assert chunk, f"corralctl closed the terminal before {text!r}:\n{self.seen}"
                self.seen += chunk.decode(errors="replace")
        return self.seen

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=15)
        finally:
            os.close(self.master)


def test_shell_completes_names_and_keeps_history(tmp_path: Path) -> None:
    history = tmp_path / "ctl.history"
    d = Daemon(tmp_path, PROGRAMS, extra=f"history_file={history}\nprompt=corral").start()
    env = env_for_children()
    env["TERM"] = "dumb"
    term = Terminal([sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf)], env)
    try:
        # The shell starts with `status`, then prompts with [supervisorctl] prompt=.
        term.expect("corral> ")
        assert APP_LINE in term.seen and OTHER_LINE in term.seen
        # `statu<Tab>` completes the command, `ot<Tab>` the process name from the daemon.
        term.type("statu\tot\t\n")
        term.expect(OTHER_LINE, count=2)
        term.expect("corral> ", count=2)
        assert "status other " in term.seen
        assert term.seen.count(APP_LINE) == 1  # only `other` was asked about
        # The up arrow brings the last command back.
        term.type("\x1b[A\n")
        term.expect(OTHER_LINE, count=3)
        term.expect("corral> ", count=3)
        term.type("quit\n")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        d.stop()
    assert "status other" in history.read_text()
