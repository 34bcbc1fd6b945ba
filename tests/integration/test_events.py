"""Events and event listeners against a real corrald: what a listener reads on its stdin.

The listener is tests/fixtures/programs/event_listener.py; it reads exactly `len` bytes of
payload (a strict listener) and records each event as a JSON line."""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import Daemon, missing_test_extra, wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"

UNKNOWN_WARN = (
    "WARN rec: has entered the UNKNOWN state and will no longer receive events, "
    "this usually indicates the process violated the eventlistener protocol"
)


def section(kind: str, name: str, command: str, **opts: object) -> str:
    lines = [f"[{kind}:{name}]", f"command={command}"]
    lines += [f"{k}={v}" for k, v in opts.items()]
    return "\n".join(lines) + "\n\n"


def listener(out: Path, events: str, *args: str, **opts: object) -> str:
    opts.setdefault("startsecs", 0)
    cmd = " ".join([PY, str(FIX / "event_listener.py"), str(out), *args])
    return section("eventlistener", "rec", cmd, events=events, **opts)


def program(name: str, command: str, **opts: object) -> str:
    return section("program", name, command, **opts)


def recorded(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def wait_events(out: Path, pred: Any, what: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (evs := recorded(out)) and pred(evs) and evs, timeout=timeout, what=what
    )


def names(evs: list[dict[str, Any]]) -> list[str]:
    return [e["headers"]["eventname"] for e in evs]


def state_lines(evs: list[dict[str, Any]], process: str) -> list[str]:
    return [
        f"{e['headers']['eventname']} {e['payload']}"
        for e in evs
        if f"processname:{process} " in e["payload"]
        and e["headers"]["eventname"].startswith("PROCESS_STATE")
    ]


def test_startup_announces_groups_then_running(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_GROUP,SUPERVISOR_STATE_CHANGE")
        + program("web", f"{PY} {FIX}/sleeper.py"),
        supervisord="identifier=ident7",
    )
    evs = wait_events(
        out,
        lambda e: "SUPERVISOR_STATE_CHANGE_RUNNING" in names(e),
        "SUPERVISOR_STATE_CHANGE_RUNNING",
    )
    added = sorted(e["payload"] for e in evs if e["headers"]["eventname"] == "PROCESS_GROUP_ADDED")
    assert added == ["groupname:rec\n", "groupname:web\n"]
    last = evs[-1]
    assert last["headers"]["eventname"] == "SUPERVISOR_STATE_CHANGE_RUNNING"
    assert last["payload"] == ""
    h = last["headers"]
    assert (h["ver"], h["server"], h["pool"], h["len"]) == ("3.0", "ident7", "rec", "0")
    # one pool: serials and poolserials count together from 0
    assert [e["headers"]["serial"] for e in evs] == [str(i) for i in range(len(evs))]
    assert [e["headers"]["poolserial"] for e in evs] == [str(i) for i in range(len(evs))]
    d.stop()


def test_crash_loop_state_events_match_4_3(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    daemon(
        listener(out, "PROCESS_STATE")
        # startsecs well above a loaded machine's Python start-up: every run is a failed start
        + program("crash", f"{PY} {FIX}/exiter.py 3 0.2", startsecs=10, startretries=1)
    )
    evs = wait_events(out, lambda e: any("FATAL" in n for n in names(e)), "FATAL")
    assert state_lines(evs, "crash") == [
        "PROCESS_STATE_STARTING processname:crash groupname:crash from_state:STOPPED tries:0",
        "PROCESS_STATE_BACKOFF processname:crash groupname:crash from_state:STARTING tries:1",
        "PROCESS_STATE_STARTING processname:crash groupname:crash from_state:BACKOFF tries:1",
        "PROCESS_STATE_BACKOFF processname:crash groupname:crash from_state:STARTING tries:2",
        "PROCESS_STATE_FATAL processname:crash groupname:crash from_state:BACKOFF",
    ]


def test_run_exit_and_stop_events_carry_the_pid(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_STATE")
        + program("once", f"{PY} {FIX}/exiter.py 0 0.3", startsecs=0, autorestart="false")
        + program("web", f"{PY} {FIX}/sleeper.py", startsecs=0)
    )
    pid = d.wait_state("web", "RUNNING")["pid"]
    d.rpc.supervisor.stopProcess("web")
    evs = wait_events(
        out,
        lambda e: len(state_lines(e, "web")) >= 4 and len(state_lines(e, "once")) >= 3,
        "stop events",
    )
    assert state_lines(evs, "web")[1:4] == [
        f"PROCESS_STATE_RUNNING processname:web groupname:web from_state:STARTING pid:{pid}",
        f"PROCESS_STATE_STOPPING processname:web groupname:web from_state:RUNNING pid:{pid}",
        f"PROCESS_STATE_STOPPED processname:web groupname:web from_state:STOPPING pid:{pid}",
    ]
    once = state_lines(evs, "once")
    assert once[2].startswith(
        "PROCESS_STATE_EXITED processname:once groupname:once from_state:RUNNING expected:1 pid:"
    )
    assert not once[2].endswith("pid:0")


def test_remote_comm_non_ascii_len_is_bytes_and_the_stream_stays_in_sync(
    daemon: Any, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(listener(out, "REMOTE_COMMUNICATION"))
    wait_until(lambda: d.info("rec")["statename"] == "RUNNING", what="listener RUNNING")
    d.rpc.supervisor.sendRemoteCommEvent("mytype", "data é ✓ x")
    d.rpc.supervisor.sendRemoteCommEvent("second", "plain")
    evs = wait_events(out, lambda e: len(e) >= 2, "two events")
    assert evs[0]["payload"] == "type:mytype\ndata é ✓ x"
    assert evs[0]["headers"]["len"] == str(len("type:mytype\ndata é ✓ x".encode()))
    assert evs[1]["headers"]["ver"] == "3.0"  # 4.3 would have left bytes behind: 'xver'
    assert evs[1]["payload"] == "type:second\nplain"


def test_output_and_capture_events(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    script = (
        "import sys,time;print('hello',flush=True);"
        "sys.stdout.write('<!--XSUPERVISOR:BEGIN-->captured<!--XSUPERVISOR:END-->');"
        "sys.stdout.flush();time.sleep(1000)"
    )
    daemon(
        listener(out, "PROCESS_LOG,PROCESS_COMMUNICATION")
        + program(
            "talk",
            f'{PY} -c "{script}"',
            stdout_events_enabled="true",
            stdout_capture_maxbytes=1000,
            startsecs=0,
        )
    )
    evs = wait_events(out, lambda e: "PROCESS_COMMUNICATION_STDOUT" in names(e), "capture")
    talk = [(e["headers"]["eventname"], e["payload"].split("\n", 1)) for e in evs]
    logged = "".join(body for n, (_, body) in talk if n == "PROCESS_LOG_STDOUT")
    assert "hello\n" in logged and "captured" in logged
    head = next(h for n, (h, _) in talk if n == "PROCESS_LOG_STDOUT")
    assert head.startswith("processname:talk groupname:talk pid:")
    assert head.endswith(" channel:stdout")
    comm = next(
        e["payload"] for e in evs if e["headers"]["eventname"] == "PROCESS_COMMUNICATION_STDOUT"
    )
    head, body = comm.split("\n", 1)
    assert body == "captured"
    assert head.startswith("processname:talk groupname:talk pid:")


def test_rejected_event_is_redelivered_with_growing_gaps(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(listener(out, "REMOTE_COMMUNICATION", "--fail", "3"))
    wait_until(lambda: d.info("rec")["statename"] == "RUNNING", what="listener RUNNING")
    d.rpc.supervisor.sendRemoteCommEvent("t", "again")
    evs = wait_events(out, lambda e: len(e) >= 4, "4 deliveries", timeout=5)
    time.sleep(0.5)
    evs = recorded(out)
    assert len(evs) == 4  # 3 FAILs then OK: no more
    assert {e["headers"]["serial"] for e in evs} == {evs[0]["headers"]["serial"]}
    t = [e["t"] for e in evs]
    gaps = [b - a for a, b in itertools.pairwise(t)]
    # the pool waits 0.1, 0.2 then 0.4 s: each gap is at least its wait (plus however late the
    # loop and the listener ran, which a loaded machine makes vary, so no gap is compared with
    # its neighbour's), and the last is well past the first
    assert all(g >= want - 0.01 for g, want in zip(gaps, (0.1, 0.2, 0.4), strict=True)), gaps
    assert gaps[2] > gaps[0], gaps
    assert "WARN rec: event was rejected" in d.log()


def test_protocol_violation_restarts_the_listener(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(listener(out, "REMOTE_COMMUNICATION", "--violate"))
    first = wait_until(
        lambda: (i := d.info("rec"))["statename"] == "RUNNING" and i["pid"], what="listener RUNNING"
    )
    d.rpc.supervisor.sendRemoteCommEvent("t", "one")
    d.wait_log(UNKNOWN_WARN)
    evs = wait_events(out, lambda e: len({x["pid"] for x in e}) >= 2, "a second listener pid")
    assert evs[0]["pid"] == first
    # the held event went back to the pool and the new listener got it
    assert evs[-1]["payload"] == "type:t\none"
    assert evs[-1]["headers"]["serial"] == evs[0]["headers"]["serial"]


def test_listener_dying_while_busy_gets_the_event_again(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    marker = tmp_path / "died-once"
    d: Daemon = daemon(
        listener(out, "REMOTE_COMMUNICATION", "--die-busy", str(marker), autorestart="true")
    )
    wait_until(lambda: d.info("rec")["statename"] == "RUNNING", what="listener RUNNING")
    d.rpc.supervisor.sendRemoteCommEvent("t", "precious")
    evs = wait_events(out, lambda e: len(e) >= 2, "redelivery")
    assert marker.exists()
    assert evs[0]["pid"] != evs[1]["pid"]
    assert evs[0]["headers"]["serial"] == evs[1]["headers"]["serial"]
    assert evs[1]["payload"] == "type:t\nprecious"


@pytest.mark.slow
def test_tick_5_arrives_on_the_boundary(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    daemon(listener(out, "TICK_5"))
    evs = wait_events(out, lambda e: len(e) >= 1, "a TICK_5", timeout=8)
    ev = evs[0]
    assert ev["headers"]["eventname"] == "TICK_5"
    when = int(ev["payload"].removeprefix("when:"))
    assert when % 5 == 0
    assert 0 <= ev["t"] - when < 1.0


# --- superlance: the listeners Supervisor users already run -----------------------------------


def superlance_env() -> str:
    """environment= for a superlance listener: where superlance (and supervisor) live."""
    import importlib.util

    dirs = []
    for mod in ("superlance", "supervisor"):
        spec = importlib.util.find_spec(mod)
        if spec is None or spec.origin is None:
            missing_test_extra(mod)
        dirs.append(str(Path(spec.origin).parents[1]))
    return 'PYTHONPATH="' + ":".join(dict.fromkeys(dirs)) + '"'


def superlance(tool: str, events: str, *args: str) -> str:
    cmd = " ".join([PY, "-m", f"superlance.{tool}", *args])
    return section(
        "eventlistener",
        tool,
        cmd,
        events=events,
        environment=superlance_env(),
        startsecs=0,
        stderr_logfile="%(here)s/" + tool + ".err",
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_superlance_crashmail_reports_a_crash(daemon: Any, tmp_path: Path) -> None:
    mail = tmp_path / "mail.txt"
    sendmail = f"'{PY} {FIX / 'sendmail_standin.py'} {mail}'"
    d: Daemon = daemon(
        superlance(
            "crashmail",
            "PROCESS_STATE_EXITED",
            "-p",
            "crash",
            "-m",
            "ops@example.com",
            "-s",
            sendmail,
        )
        + program("crash", f"{PY} {FIX}/exiter.py 3 1.0", startsecs=0, autorestart="false")
    )
    d.wait_state("crash", "EXITED")
    text = wait_until(lambda: mail.exists() and mail.read_text(), what="a crash mail")
    assert "To: ops@example.com" in text
    assert "Subject:  crash crashed at" in text
    assert "Process crash in group crash exited unexpectedly (pid " in text
    assert "from state RUNNING" in text


@pytest.mark.slow
def test_superlance_memmon_restarts_a_program_that_grows(daemon: Any, tmp_path: Path) -> None:
    d: Daemon = daemon(
        superlance("memmon", "TICK_5", "-p", "fat=60MB")
        + program("fat", f"{PY} {FIX}/grower.py 120", startsecs=0)
    )
    first = d.wait_state("fat", "RUNNING")["pid"]
    wait_until(
        lambda: d.info("fat")["pid"] not in (0, first), timeout=12, what="memmon to restart fat"
    )
    err = (tmp_path / "memmon.err").read_text()
    assert "Restarting fat" in err
    assert "stopped: fat (terminated by SIGTERM)" in d.log()


@pytest.mark.slow
def test_superlance_httpok_restarts_a_program_that_stops_answering(
    daemon: Any, tmp_path: Path
) -> None:
    port, sick = free_port(), tmp_path / "sick"
    d: Daemon = daemon(
        superlance("httpok", "TICK_5", "-p", "web", "-t", "2", f"http://127.0.0.1:{port}/")
        + program("web", f"{PY} {FIX}/http_health.py {port} {sick}", startsecs=0)
    )
    first = d.wait_state("web", "RUNNING")["pid"]
    wait_until(lambda: _http_status(port) == 200, what="web to answer")
    sick.touch()
    assert _http_status(port) == 500
    wait_until(
        lambda: d.info("web")["pid"] not in (0, first), timeout=12, what="httpok to restart web"
    )
    wait_until(lambda: _http_status(port) == 200, what="web to answer again")
    assert "web" in (tmp_path / "httpok.err").read_text()


def _http_status(port: int) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/")
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()
