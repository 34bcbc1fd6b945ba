"""Listener pools against a real corrald: payloads of every state change, pools, buffering,
filtering, result handlers, shutdown and reload, and listeners that break the protocol.

Expected payload lines were recorded from supervisord 4.3 running the same configs with the
same recording listener (tests/fixtures/programs/event_listener.py)."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_events import (
    FIX,
    PY,
    listener,
    names,
    program,
    recorded,
    section,
    state_lines,
    wait_events,
)
from tests.support import Daemon, run_corrald, wait_until


def rec(name: str, out: Path, events: str, *args: str, **opts: object) -> str:
    opts.setdefault("startsecs", 0)
    cmd = " ".join([PY, str(FIX / "event_listener.py"), str(out), *args])
    return section("eventlistener", name, cmd, events=events, **opts)


def test_state_payloads_of_the_less_common_transitions(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_STATE", buffer_size=50)
        + program("bad", f"{PY} {FIX}/exiter.py 2 0.3", startsecs=0, autorestart="false")
        + program("slow", f"{PY} {FIX}/sleeper.py", startsecs=30)
        + program("kil", f"{PY} {FIX}/sleeper.py", startsecs=0, autorestart="true")
        + program(
            "bo", f"{PY} {FIX}/exiter.py 3 0.1", startsecs=10, startretries=10, autostart="false"
        )
    )
    d.wait_state("bad", "EXITED")
    slow = d.info("slow")["pid"]
    d.rpc.supervisor.stopProcess("slow")  # from STARTING
    kil = d.wait_state("kil", "RUNNING")["pid"]
    os.kill(kil, signal.SIGKILL)
    kil2 = wait_until(lambda: (p := d.info("kil")["pid"]) not in (0, kil) and p, what="respawn")
    d.rpc.supervisor.startProcess("bo", False)
    d.wait_state("bo", "BACKOFF")
    d.rpc.supervisor.stopProcess("bo")  # from BACKOFF: no pid any more
    evs = wait_events(out, lambda e: len(state_lines(e, "bo")) >= 3, "bo STOPPED")
    bad = state_lines(evs, "bad")[1].rsplit("pid:", 1)[1]
    assert bad != "0"
    assert state_lines(evs, "bad")[1:] == [
        f"PROCESS_STATE_RUNNING processname:bad groupname:bad from_state:STARTING pid:{bad}",
        "PROCESS_STATE_EXITED processname:bad groupname:bad from_state:RUNNING expected:0 "
        f"pid:{bad}",
    ]
    assert state_lines(evs, "slow")[1:] == [
        f"PROCESS_STATE_STOPPING processname:slow groupname:slow from_state:STARTING pid:{slow}",
        f"PROCESS_STATE_STOPPED processname:slow groupname:slow from_state:STOPPING pid:{slow}",
    ]
    assert state_lines(evs, "kil")[2:5] == [
        "PROCESS_STATE_EXITED processname:kil groupname:kil from_state:RUNNING expected:0 "
        f"pid:{kil}",
        "PROCESS_STATE_STARTING processname:kil groupname:kil from_state:EXITED tries:0",
        f"PROCESS_STATE_RUNNING processname:kil groupname:kil from_state:STARTING pid:{kil2}",
    ]
    assert state_lines(evs, "bo") == [
        "PROCESS_STATE_STARTING processname:bo groupname:bo from_state:STOPPED tries:0",
        "PROCESS_STATE_BACKOFF processname:bo groupname:bo from_state:STARTING tries:1",
        "PROCESS_STATE_STOPPED processname:bo groupname:bo from_state:BACKOFF pid:0",
    ]
    # every header's len is its payload's size
    assert all(int(e["headers"]["len"]) == len(e["payload"].encode()) for e in evs)


def test_shutdown_and_reload_are_announced_and_serials_survive_a_reload(
    daemon: Any, tmp_path: Path
) -> None:
    # Only the listener: 4.3 stops it before it has read STOPPING; corral lets it answer first.
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(listener(out, "SUPERVISOR_STATE_CHANGE,PROCESS_GROUP"))
    wait_events(out, lambda e: "SUPERVISOR_STATE_CHANGE_RUNNING" in names(e), "RUNNING")
    d.rpc.supervisor.restart()
    evs = wait_events(out, lambda e: names(e).count("SUPERVISOR_STATE_CHANGE_RUNNING") == 2, "2nd")
    assert names(evs) == [
        "PROCESS_GROUP_ADDED",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "PROCESS_GROUP_ADDED",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
    ]
    # as in 4.3: the global serial goes on across a reload, the new pool counts from 0 again
    assert [int(e["headers"]["serial"]) for e in evs] == [0, 1, 2, 3, 4]
    assert [int(e["headers"]["poolserial"]) for e in evs] == [0, 1, 2, 0, 1]
    assert d.stop() == 0
    evs = recorded(out)
    assert names(evs)[-1] == "SUPERVISOR_STATE_CHANGE_STOPPING"
    assert evs[-1]["payload"] == "" and evs[-1]["headers"]["len"] == "0"
    assert "undelivered" not in d.log()


def test_a_listener_hears_the_last_state_changes_before_it_is_stopped(
    daemon: Any, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_STATE_STOPPED", "--slow", "0.2")
        + program("a", f"{PY} {FIX}/sleeper.py", startsecs=0)
        + program("b", f"{PY} {FIX}/sleeper.py", startsecs=0)
    )
    d.wait_state("b", "RUNNING")
    d.wait_state("a", "RUNNING")
    assert d.stop() == 0
    stopped = sorted(e["payload"].split()[0] for e in recorded(out))
    assert stopped == ["processname:a", "processname:b"]


def test_pools_filter_number_and_buffer_their_own_events(daemon: Any, tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    d: Daemon = daemon(
        rec(
            "pa",
            a,
            "PROCESS_GROUP,REMOTE_COMMUNICATION",
            numprocs=2,
            process_name="%(program_name)s_%(process_num)s",
        )
        # not RUNNING for 2 s: what arrives meanwhile waits in a buffer of 2
        + rec("pb", b, "REMOTE_COMMUNICATION", buffer_size=2, startsecs=2)
        + program("web", f"{PY} {FIX}/sleeper.py")
    )
    for i in range(4):
        d.rpc.supervisor.sendRemoteCommEvent("t", f"m{i}")
    assert d.info("pb")["statename"] == "STARTING"
    log = d.wait_log("ERRO pool pb event buffer overflowed, discarding event 4")
    assert "ERRO pool pb event buffer overflowed, discarding event 3" in log
    conf = d.conf.read_text() + f"\n[program:extra]\ncommand={PY} {FIX}/sleeper.py\n"
    d.conf.write_text(conf)
    assert d.rpc.supervisor.reloadConfig() == [[["extra"], [], []]]
    d.rpc.supervisor.addProcessGroup("extra")
    d.rpc.supervisor.stopProcessGroup("extra")
    d.rpc.supervisor.removeProcessGroup("extra")
    evs_a = wait_events(a, lambda e: len(e) >= 9, "pa's nine events, up to the removal")
    evs_b = wait_events(b, lambda e: len(e) >= 2, "pb's two events")
    # pa's two listeners append to one file: its lines are in write order, not serial order
    evs_a.sort(key=lambda e: int(e["headers"]["serial"]))
    line = [(int(e["headers"]["serial"]), int(e["headers"]["poolserial"])) for e in evs_a]
    assert line == [(i, i) for i in range(9)]
    assert [e["payload"] for e in evs_a] == [
        "groupname:pa\n",
        "groupname:pb\n",
        "groupname:web\n",
        "type:t\nm0",
        "type:t\nm1",
        "type:t\nm2",
        "type:t\nm3",
        "groupname:extra\n",
        "groupname:extra\n",
    ]
    assert names(evs_a)[-2:] == ["PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED"]
    # pb: only its type, the two newest of the four, one event one global serial
    assert [(e["payload"], e["headers"]["serial"], e["headers"]["poolserial"]) for e in evs_b] == [
        ("type:t\nm2", "5", "2"),
        ("type:t\nm3", "6", "3"),
    ]
    assert all(e["headers"]["pool"] == "pb" for e in evs_b)
    assert {e["headers"]["pool"] for e in evs_a} == {"pa"}
    assert set(d.rpc.supervisor.getProcessInfo("pa:pa_1")) and d.info("pa:pa_0")["pid"]


def test_a_result_handler_given_as_module_callable(
    daemon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a user writes: a module of theirs on corrald's path, 4.3's RejectEvent.
    seen = tmp_path / "handled.txt"
    (tmp_path / "myhandlers.py").write_text(
        textwrap.dedent(f"""\
        from supervisor.dispatchers import RejectEvent

        def yes_only(event, response):
            with open({str(seen)!r}, "ab") as f:
                f.write(response + b"\\n")
            if response != b"yes":
                raise RejectEvent(response)
        """)
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(
            out, "REMOTE_COMMUNICATION", "--answer", "yes", result_handler="myhandlers:yes_only"
        )
    )
    wait_until(lambda: d.info("rec")["statename"] == "RUNNING", what="listener RUNNING")
    d.rpc.supervisor.sendRemoteCommEvent("t", "one")
    d.rpc.supervisor.sendRemoteCommEvent("t", "two")
    wait_until(lambda: seen.exists() and seen.read_bytes() == b"yes\nyes\n", what="handled")
    assert [e["payload"] for e in recorded(out)] == ["type:t\none", "type:t\ntwo"]
    assert "event was rejected" not in d.log()


def test_a_result_handler_that_cannot_be_imported_refuses_the_config(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(
        f"[supervisord]\nlogfile={tmp_path}/main.log\npidfile={tmp_path}/pid\n\n"
        "[eventlistener:x]\ncommand=/bin/cat\nevents=TICK_5\nresult_handler=nosuchmod:handler\n"
    )
    done = run_corrald("-n", "-c", str(conf))
    assert done.returncode == 2
    assert "Error: nosuchmod:handler cannot be resolved within [eventlistener:x]" in done.stderr


def test_a_listener_printing_a_banner_is_restarted_with_growing_delays(
    daemon: Any, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(listener(out, "REMOTE_COMMUNICATION", "--banner", "hello from rec"))
    d.wait_log("restarting event listener rec in 2 s after 3 protocol violations in a row")
    log = d.log()
    assert log.count("spawned: 'rec'") == 3  # 4.3 leaves it deaf; a busy loop would be dozens
    assert log.count("has entered the UNKNOWN state") == 3
    assert "restarting event listener rec in 1 s after 2 protocol violations in a row" in log


def test_a_listeners_stdout_is_its_protocol_never_an_event(daemon: Any, tmp_path: Path) -> None:
    out, logs = tmp_path / "events.jsonl", tmp_path / "logs.jsonl"
    d: Daemon = daemon(
        listener(
            out,
            "REMOTE_COMMUNICATION",
            stdout_logfile=tmp_path / "rec.out",
            stdout_events_enabled="true",
        )
        + rec("watch", logs, "PROCESS_LOG")
        + program(
            "talk",
            f"{PY} {FIX}/exiter.py 0 0.2",
            stdout_events_enabled="true",
            autorestart="false",
            startsecs=0,
        )
    )
    wait_until(lambda: d.info("rec")["statename"] == "RUNNING", what="listener RUNNING")
    d.rpc.supervisor.sendRemoteCommEvent("t", "x")
    wait_until(
        lambda: (tmp_path / "rec.out").read_bytes() == b"READY\nRESULT 2\nOKREADY\n",
        what="the raw protocol in rec's stdout log",
    )

    def data(evs: list[dict[str, Any]]) -> str:
        # the child's writes may come as one chunk or several (print writes the newline apart)
        return "".join(e["payload"].split("\n", 1)[1] for e in evs)

    # each chunk is its own event, delivered in turn: wait for the whole line
    evs = wait_events(logs, lambda e: data(e).endswith("\n"), "talk's output")
    d.wait_state("talk", "EXITED")
    assert {e["payload"].split(" ", 1)[0] for e in evs} == {"processname:talk"}
    assert data(evs) == "exiting with 0\n"


def test_a_rejected_event_goes_back_to_its_own_pool_only(daemon: Any, tmp_path: Path) -> None:
    # Same priority (the default -1): 4.3 would push the rejected event into pb as well.
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    d: Daemon = daemon(
        rec("pa", a, "REMOTE_COMMUNICATION", "--fail", "2")
        + rec("pb", b, "REMOTE_COMMUNICATION", buffer_size=1)
    )
    wait_until(
        lambda: {d.info(n)["statename"] for n in ("pa", "pb")} == {"RUNNING"}, what="RUNNING"
    )
    d.rpc.supervisor.sendRemoteCommEvent("t", "once")
    evs_a = wait_events(a, lambda e: len(e) >= 3, "two FAILs then OK")
    evs_b = wait_events(b, lambda e: len(e) >= 1, "pb's delivery")
    assert [e["payload"] for e in evs_b] == ["type:t\nonce"]
    assert {e["headers"]["serial"] for e in evs_a + evs_b} == {evs_b[0]["headers"]["serial"]}
    assert "overflowed" not in d.log()
    assert d.log().count("WARN pa: event was rejected") == 2
