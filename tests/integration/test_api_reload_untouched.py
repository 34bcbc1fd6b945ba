"""`update` (reloadConfig + add/removeProcessGroup) never touches a group whose config did not
change: same pid, same start time, same log files (path, inode, contents), nothing in the
main log about it; and an edit that changes no group changes nothing at all."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import Daemon, env_for_children, wait_until

PROGRAMS = """\
[program:keep]
command=/bin/sh -c "echo keep started; echo keep err >&2; exec /bin/sleep 1000"
startsecs=0

[group:kept]
programs=k1,k2

[program:k1]
command=/bin/sleep 1000
startsecs=0

[program:k2]
command=/bin/sleep 1001
startsecs=0

[program:change]
command=/bin/sleep 1000
startsecs=0

[program:gone]
command=/bin/sleep 1000
startsecs=0
"""

NEW = """
[program:new]
command=/bin/sleep 1000
startsecs=0
"""


def ctl(d: Daemon, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )
    return r.stdout + r.stderr, r.returncode


def snapshot(d: Daemon, names: list[str]) -> dict[str, Any]:
    """What an untouched process keeps: pid, start, log files and their inodes and bytes."""
    out = {}
    for name in names:
        info = d.info(name)
        logs = [info["stdout_logfile"], info["stderr_logfile"]]
        out[name] = {
            "pid": info["pid"],
            "start": info["start"],
            "state": info["statename"],
            "logs": [(p, os.stat(p).st_ino, Path(p).read_bytes()) for p in logs],
        }
    return out


def started(d: Daemon) -> dict[str, Any]:
    for name in ("keep", "kept:k1", "kept:k2", "change", "gone"):
        d.wait_state(name, "RUNNING")
    info = d.info("keep")
    out, err = Path(info["stdout_logfile"]), Path(info["stderr_logfile"])
    # both channels: the daemon may read the later write (stderr) first
    wait_until(lambda: out.read_bytes() == b"keep started\n" and err.read_bytes() == b"keep err\n")
    return snapshot(d, ["keep", "kept:k1", "kept:k2"])


def test_update_leaves_unchanged_groups_alone(daemon: Callable[..., Daemon]) -> None:
    d = daemon(PROGRAMS)
    before = started(d)
    change_pid = d.info("change")["pid"]
    log_size = len(d.log())
    # One edit: `change` changed, `gone` removed, `new` added.
    text = d.conf.read_text()
    text = text.replace(
        "[program:change]\ncommand=/bin/sleep 1000", "[program:change]\ncommand=/bin/sleep 1002"
    )
    text = text.replace("[program:gone]\ncommand=/bin/sleep 1000\nstartsecs=0\n", "") + NEW
    d.conf.write_text(text)
    assert ctl(d, "reread") == (
        "change: changed\ngone: disappeared\nnew: available\n",
        0,
    )
    out, code = ctl(d, "update")
    assert code == 0
    assert sorted(out.splitlines()) == sorted(
        [
            "change: stopped",
            "change: updated process group",
            "gone: stopped",
            "gone: removed process group",
            "new: added process group",
        ]
    )
    d.wait_state("new", "RUNNING")
    changed = d.wait_state("change", "RUNNING")
    assert changed["pid"] != change_pid
    assert snapshot(d, ["keep", "kept:k1", "kept:k2"]) == before
    # The update's log lines are about the other groups only.
    after = d.log()[log_size:]
    assert "change" in after and "gone" in after and "new" in after
    assert "keep" not in after and "k1" not in after and "k2" not in after


def test_an_edit_that_changes_no_group_changes_nothing(daemon: Callable[..., Daemon]) -> None:
    d = daemon(PROGRAMS)
    before = started(d)
    before.update(snapshot(d, ["change", "gone"]))
    log_size = len(d.log())
    # A comment, an inline comment's spacing, and a section no group reads.
    text = d.conf.read_text().replace(
        "[program:keep]", "; a comment added by the operator\n[program:keep]"
    )
    text = text.replace(
        "[supervisorctl]\n", "[supervisorctl]\nprompt=edited\nhistory_file=/nonexistent/h\n"
    )
    d.conf.write_text(text + "\n# trailing comment\n")
    assert d.rpc.supervisor.reloadConfig() == [[[], [], []]]
    assert ctl(d, "reread") == ("No config updates to processes\n", 0)
    assert ctl(d, "update") == ("", 0)
    assert snapshot(d, ["keep", "kept:k1", "kept:k2", "change", "gone"]) == before
    assert "stopped" not in d.log()[log_size:] and "spawned" not in d.log()[log_size:]
