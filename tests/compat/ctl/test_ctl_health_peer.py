"""`corralctl health` against a real supervisord 4.3 (no corral namespace there): the same
verdict, read from 4.3's process info; and against corrald with the same config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ctlpeer import Daemon, run_ours, start_daemon
from tests.support import wait_until

PROGRAMS = """
[program:web]
command=sleep 1000
startsecs=0

[program:done]
command=true
startsecs=0
autorestart=false

[program:broken]
command=sh -c "exit 3"
startsecs=5
startretries=0

[program:manual]
command=sleep 1000
autostart=false
"""


@pytest.fixture(params=["supervisord", "corrald"])
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Daemon]:
    daemon = start_daemon(tmp_path, PROGRAMS, corrald=request.param == "corrald")
    try:
        rpc = daemon.rpc()
        wait_until(
            lambda: (
                {i["name"]: i["statename"] for i in rpc.getAllProcessInfo()}
                == {"web": "RUNNING", "done": "EXITED", "broken": "FATAL", "manual": "STOPPED"}
            ),
            timeout=30,
            what="the programs to settle",
        )
        yield daemon
    finally:
        daemon.stop()


def test_health_names_the_failed_program_and_exits_1(peer: Daemon) -> None:
    result = run_ours(["-c", str(peer.conf), "health"])
    assert result.rc == 1
    lines = result.out.splitlines()
    # web running and done (exited 0, a finished job) are fine; manual is not counted
    assert lines[0] == "not ready: 1 of 3"
    assert lines[1] == "broken FATAL: Exited too quickly (process log may have details)"
    assert len(lines) == 2


def test_health_exits_0_once_the_failed_program_is_gone(peer: Daemon) -> None:
    (peer.dir / "supervisord.conf").write_text(
        (peer.dir / "supervisord.conf")
        .read_text()
        .replace('[program:broken]\ncommand=sh -c "exit 3"\nstartsecs=5\nstartretries=0\n', "")
    )
    rpc = peer.rpc()
    rpc.reloadConfig()
    rpc.removeProcessGroup("broken")
    result = run_ours(["-c", str(peer.conf), "health"])
    assert (result.rc, result.out) == (0, "ok: 2 processes as they should be\n")
