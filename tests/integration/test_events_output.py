"""Output events against a real corrald: PROCESS_LOG_* from *_events_enabled, and capture
mode (the XSUPERVISOR tokens) producing PROCESS_COMMUNICATION_*, on stdout and stderr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.test_events import FIX, PY, listener, names, program, wait_events
from tests.support import Daemon, wait_until

TALKER = f"{PY} {FIX}/capture_talker.py"


def bodies(evs: list[dict[str, Any]], eventname: str) -> list[str]:
    return [e["payload"].split("\n", 1)[1] for e in evs if e["headers"]["eventname"] == eventname]


def heads(evs: list[dict[str, Any]], eventname: str) -> set[str]:
    return {e["payload"].split("\n", 1)[0] for e in evs if e["headers"]["eventname"] == eventname}


def test_capture_mode_on_both_channels_with_log_events(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_LOG,PROCESS_COMMUNICATION", buffer_size=100)
        + program(
            "talk",
            TALKER,
            startsecs=0,
            stdout_events_enabled="true",
            stderr_events_enabled="true",
            stdout_capture_maxbytes=10,
            stderr_capture_maxbytes=100,
            stdout_logfile=tmp_path / "talk.out",
            stderr_logfile=tmp_path / "talk.err",
        )
    )
    evs = wait_events(out, lambda e: "done\n" in bodies(e, "PROCESS_LOG_STDERR"), "done")
    pid = d.info("talk")["pid"]
    assert bodies(evs, "PROCESS_COMMUNICATION_STDOUT") == [
        "cap1",
        "split body",
        "abcdefghij",  # bounded to the last stdout_capture_maxbytes
        "Undecodable: b'bad \\xff'",
    ]
    assert bodies(evs, "PROCESS_COMMUNICATION_STDERR") == ["ecap"]
    assert heads(evs, "PROCESS_COMMUNICATION_STDOUT") == {
        f"processname:talk groupname:talk pid:{pid}"
    }
    assert heads(evs, "PROCESS_COMMUNICATION_STDERR") == {
        f"processname:talk groupname:talk pid:{pid}"
    }
    assert heads(evs, "PROCESS_LOG_STDERR") == {
        f"processname:talk groupname:talk pid:{pid} channel:stderr"
    }
    # log events carry every chunk, captured ones included (as in 4.3), never the tokens
    logged = "".join(bodies(evs, "PROCESS_LOG_STDOUT"))
    assert logged.startswith("hello out\npre cap1 post\nsplit body\n0123456789abcdefghij\n")
    assert "Undecodable: b'bad \\xff\\xfe bytes\\n'" in logged
    assert "XSUPERVISOR" not in logged
    assert "".join(bodies(evs, "PROCESS_LOG_STDERR")) == "hello err\necap\ndone\n"
    # each COMMUNICATION event follows the LOG events of its body
    order = names(evs)
    assert order.index("PROCESS_COMMUNICATION_STDOUT") > order.index("PROCESS_LOG_STDOUT")
    # the log files get the uncaptured output only
    assert (tmp_path / "talk.out").read_bytes() == (
        b"hello out\npre  post\n\n\nbad \xff\xfe bytes\n\n tail"
    )
    assert (tmp_path / "talk.err").read_bytes() == b"hello err\n\ndone\n"
    d.stop()
    # at exit the held-back partial token reaches the log (4.3 loses it)
    assert (tmp_path / "talk.out").read_bytes().endswith(b"\n\n tail<!--XSU")


def test_without_capture_mode_tokens_are_logged_and_no_events(daemon: Any, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    d: Daemon = daemon(
        listener(out, "PROCESS_COMMUNICATION,PROCESS_LOG,REMOTE_COMMUNICATION")
        + program("talk", TALKER, startsecs=0, stdout_logfile=tmp_path / "talk.out")
    )
    wait_until(
        lambda: (
            b"<!--XSUPERVISOR:END-->\n" in (tmp_path / "talk.out").read_bytes()
            and d.info("rec")["statename"] == "RUNNING"
        ),
        what="talk's output",
    )
    text = (tmp_path / "talk.out").read_bytes()
    assert b"pre <!--XSUPERVISOR:BEGIN-->cap1<!--XSUPERVISOR:END--> post\n" in text
    # a marker event: everything talk wrote before it would have been delivered first
    d.rpc.supervisor.sendRemoteCommEvent("marker", "")
    evs = wait_events(out, lambda e: len(e) >= 1, "the marker")
    assert names(evs) == ["REMOTE_COMMUNICATION"]
