"""More of what Supervisor users run as listeners, against a real corrald: listeners written
with supervisor.childutils (which call back over SUPERVISOR_SERVER_URL), and superlance's
batching mailers (crashmailbatch, fatalmailbatch, crashsms) sending to a loopback SMTP
stand-in. memmon, httpok and crashmail are in test_events.py."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_events import FIX, PY, program, section, superlance, superlance_env
from tests.support import Daemon, wait_until


def lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_childutils_listener_hears_pcomm_and_calls_back(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "heard.jsonl"
    d: Daemon = daemon(
        section(
            "eventlistener",
            "cu",
            f"{PY} {FIX}/childutils_listener.py {out}",
            events="PROCESS_COMMUNICATION",
            environment=superlance_env(),
            startsecs=0,
            stderr_logfile=tmp_path / "cu.err",
        )
        + program(
            "talk",
            f"{PY} {FIX}/pcomm_talker.py",
            environment=superlance_env(),
            stdout_capture_maxbytes="1KB",
            startsecs=0,
        )
    )
    heard = wait_until(lambda: len(got := lines(out)) >= 4 and got, what="four events")
    pid = str(d.info("talk")["pid"])
    # 'fail me' was refused once (listener.fail) and came back
    assert [h["data"] for h in heard] == ["hello listener", "fail me", "fail me", "bye"]
    assert {h["eventname"] for h in heard} == {"PROCESS_COMMUNICATION_STDOUT"}
    assert {h["pool"] for h in heard} == {"cu"}
    assert {(h["pid"], h["rpc_pid"], h["rpc_state"]) for h in heard} == {(pid, pid, "RUNNING")}
    assert {h["url"] for h in heard} == {f"unix://{d.sock}"}
    assert "WARN cu: event was rejected" in d.log()


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    portfile, mbox = tmp_path / "smtp.port", tmp_path / "mbox"
    server = subprocess.Popen([PY, str(FIX / "smtp_standin.py"), str(portfile), str(mbox)])
    try:
        port = int(wait_until(lambda: portfile.exists() and portfile.read_text(), what="smtp"))
        yield port, mbox
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_superlance_batch_mailers(daemon: Any, tmp_path: Path, smtp: tuple[int, Path]) -> None:
    port, mbox = smtp
    common = ["-f", "corral@example.com", "-H", f"127.0.0.1:{port}", "-e", "TICK_5", "-i", "0.05"]
    d: Daemon = daemon(
        superlance("crashmailbatch", "PROCESS_STATE,TICK_5", "-t", "crash@example.com", *common)
        + superlance("fatalmailbatch", "PROCESS_STATE,TICK_5", "-t", "fatal@example.com", *common)
        + superlance("crashsms", "PROCESS_STATE,TICK_5", "-t", "5551234@sms.example.com", *common)
        + program("crash", f"{PY} {FIX}/exiter.py 3 0.5", startsecs=0, autorestart="false")
        # startsecs far above a Python start-up on a loaded machine: doomed never reaches
        # RUNNING (its exit ends the start at once, so this costs no time)
        + program("doomed", f"{PY} {FIX}/exiter.py 3 0.05", startsecs=10, startretries=0)
    )
    d.wait_state("doomed", "FATAL")
    d.wait_state("crash", "EXITED")
    mails = wait_until(
        lambda: (
            mbox.exists() and (m := mbox.read_text()).count("--- end of message ---") >= 3 and m
        ),
        timeout=12,
        what="three mails after the next TICK_5",
    )
    by_to = {
        m.split("To: ", 1)[1].split("\n", 1)[0]: m
        for m in mails.split("--- end of message ---\n")
        if "To: " in m
    }
    assert set(by_to) == {"crash@example.com", "fatal@example.com", "5551234@sms.example.com"}
    assert "Subject: Crash alert from supervisord" in by_to["crash@example.com"]
    assert "Process crash:crash (pid " in by_to["crash@example.com"]
    assert "died unexpectedly" in by_to["crash@example.com"]
    assert "doomed" not in by_to["crash@example.com"]  # it never reached RUNNING: no EXITED
    assert "Subject: Fatal start alert from supervisord" in by_to["fatal@example.com"]
    assert "Process doomed:doomed failed to start too many times" in by_to["fatal@example.com"]
    assert "crash" in by_to["5551234@sms.example.com"]


def test_a_listener_shuts_the_daemon_down_when_a_program_is_fatal(
    daemon: Any, tmp_path: Path
) -> None:
    d: Daemon = daemon(
        section(
            "eventlistener",
            "reaper",
            f"{PY} {FIX}/shutdown_on_fatal.py",
            events="PROCESS_STATE_FATAL,SUPERVISOR_STATE_CHANGE",
            environment=superlance_env(),
            startsecs=0,
            stderr_logfile=tmp_path / "reaper.err",
        )
        + program("doomed", f"{PY} {FIX}/exiter.py 3 0.05", startsecs=10, startretries=1)
        + program("web", f"{PY} {FIX}/sleeper.py", startsecs=0)
    )
    assert d.proc is not None
    assert d.proc.wait(15) == 0
    assert (tmp_path / "reaper.err").read_text() == "doomed is FATAL: shutting down\n"
    log = d.log()
    assert "gave up: doomed entered FATAL state" in log
    assert "stopped: web (terminated by SIGTERM)" in log
    assert "undelivered" not in log  # it answered STOPPING too before being stopped
