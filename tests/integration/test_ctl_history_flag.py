"""`corralctl -r FILE` (and `--history-file FILE`) keeps the interactive shell's history in
FILE, over the config's history_file= (4.3 accepts the flag and ignores it)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.test_ctl_shell import APP_LINE, OTHER_LINE, PROGRAMS, Terminal
from tests.support import Daemon, env_for_children


@pytest.mark.parametrize("flag", ["-r", "--history-file"])
def test_history_file_from_the_command_line(tmp_path: Path, flag: str) -> None:
    from_config = tmp_path / "config.history"
    history = tmp_path / "flag.history"
    history.write_text("status app\n")  # what an earlier session typed
    d = Daemon(tmp_path, PROGRAMS)
    text = d.conf.read_text().replace(
        "[supervisorctl]\n", f"[supervisorctl]\nhistory_file={from_config}\nprompt=corral\n"
    )
    assert "\n " not in text  # no option is continued by an indented line
    d.conf.write_text(text)
    d.start()
    env = env_for_children()
    env["TERM"] = "dumb"
    argv = [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), flag, str(history)]
    term = Terminal(argv, env)
    try:
        term.expect("corral> ")
        assert term.seen.count(APP_LINE) == 1 and term.seen.count(OTHER_LINE) == 1
        # The up arrow recalls the line read from FILE: `status app` runs again.
        term.type("\x1b[A\n")
        term.expect("corral> ", count=2)
        assert term.seen.count(APP_LINE) == 2 and term.seen.count(OTHER_LINE) == 1
        term.type("status other\n")
        term.expect(OTHER_LINE, count=2)
        term.expect("corral> ", count=3)
        term.type("quit\n")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
        d.stop()
    # FILE now holds the old line and this session's (readline skips the repeated line);
    # the config's history file was never written.
    assert history.read_text().splitlines() == ["status app", "status other", "quit"]
    assert not from_config.exists()
