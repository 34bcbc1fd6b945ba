"""wire.events: names, hierarchy, header and every payload, byte for byte.

Expected strings are the ones supervisord 4.3 sent to a recording listener (transcript taken
with tests/fixtures/programs/event_listener.py), pids and names substituted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.wire import events as wire


def test_abstract_types_are_the_seven_of_4_3() -> None:
    assert {
        "EVENT",
        "PROCESS_STATE",
        "PROCESS_COMMUNICATION",
        "PROCESS_LOG",
        "SUPERVISOR_STATE_CHANGE",
        "TICK",
        "PROCESS_GROUP",
    } == wire.ABSTRACT
    assert len(wire.CONCRETE) == 20


@pytest.mark.parametrize(
    ("sub", "event", "expected"),
    [
        ("EVENT", "TICK_5", True),
        ("EVENT", "REMOTE_COMMUNICATION", True),
        ("TICK", "TICK_3600", True),
        ("TICK", "PROCESS_STATE_RUNNING", False),
        ("PROCESS_STATE", "PROCESS_STATE_EXITED", True),
        ("PROCESS_STATE_EXITED", "PROCESS_STATE_EXITED", True),
        ("PROCESS_STATE_EXITED", "PROCESS_STATE_FATAL", False),
        ("PROCESS_LOG", "PROCESS_LOG_STDERR", True),
        ("PROCESS_LOG", "PROCESS_COMMUNICATION_STDERR", False),
        ("PROCESS_GROUP", "PROCESS_GROUP_REMOVED", True),
        ("NOT_A_TYPE", "TICK_5", False),
    ],
)
def test_subscription_matching(sub: str, event: str, expected: bool) -> None:
    assert wire.matches(sub, event) is expected


def test_lineage_and_descendants() -> None:
    assert wire.lineage("PROCESS_STATE_RUNNING") == (
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE",
        "EVENT",
    )
    assert wire.lineage("nope") == ()
    assert wire.descendants("TICK") == {"TICK_5", "TICK_60", "TICK_3600"}
    assert wire.descendants("EVENT") == wire.CONCRETE


def test_header_line_exact() -> None:
    assert wire.header("ident43", 21, "rec", 3, "TICK_5", 15) == (
        "ver:3.0 server:ident43 serial:21 pool:rec poolserial:3 eventname:TICK_5 len:15\n"
    )


def test_envelope_len_counts_bytes_of_non_ascii_payload() -> None:
    payload = wire.remote_communication_payload("mytype", "data é x")
    body = wire.encode(payload)
    assert len(payload) == 20 and len(body) == 21  # 4.3 would say len:20 and desync
    data = wire.envelope("s", 0, "p", 0, "REMOTE_COMMUNICATION", body)
    line, rest = data.split(b"\n", 1)
    assert line.endswith(b" len:21")
    assert rest == "type:mytype\ndata é x".encode()


@given(
    st.text(),
    st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
        min_size=1,
    ),
)
def test_a_strict_listener_reads_exactly_the_payload(data: str, type_: str) -> None:
    body = wire.encode(wire.remote_communication_payload(type_, data))
    stream = wire.envelope("srv", 7, "pool", 3, "REMOTE_COMMUNICATION", body) + b"NEXT"
    line, rest = stream.split(b"\n", 1)
    headers = wire.parse_header(line.decode())
    n = int(headers["len"])
    assert rest[:n].decode("utf-8", "surrogateescape") == f"type:{type_}\n{data}"
    assert rest[n:] == b"NEXT"


STATE_CASES = [
    (
        "STARTING",
        dict(tries=0),
        "STOPPED",
        "processname:talk groupname:talk from_state:STOPPED tries:0",
    ),
    (
        "RUNNING",
        dict(pid=15491),
        "STARTING",
        "processname:talk groupname:talk from_state:STARTING pid:15491",
    ),
    (
        "BACKOFF",
        dict(tries=1),
        "STARTING",
        "processname:talk groupname:talk from_state:STARTING tries:1",
    ),
    (
        "STOPPING",
        dict(pid=15491),
        "RUNNING",
        "processname:talk groupname:talk from_state:RUNNING pid:15491",
    ),
    (
        "EXITED",
        dict(pid=15489, expected=False),
        "RUNNING",
        "processname:talk groupname:talk from_state:RUNNING expected:0 pid:15489",
    ),
    (
        "EXITED",
        dict(pid=15490, expected=True),
        "RUNNING",
        "processname:talk groupname:talk from_state:RUNNING expected:1 pid:15490",
    ),
    (
        "STOPPED",
        dict(pid=15491),
        "STOPPING",
        "processname:talk groupname:talk from_state:STOPPING pid:15491",
    ),
    (
        "FATAL",
        dict(tries=3, pid=9),
        "BACKOFF",
        "processname:talk groupname:talk from_state:BACKOFF",
    ),
    ("UNKNOWN", dict(pid=9), "RUNNING", "processname:talk groupname:talk from_state:RUNNING"),
]


@pytest.mark.parametrize(("state", "extra", "from_state", "text"), STATE_CASES)
def test_process_state_payloads(
    state: str, extra: dict[str, int], from_state: str, text: str
) -> None:
    got = wire.process_state_payload(state, "talk", "talk", from_state, **extra)  # type: ignore[arg-type]
    assert got == text


def test_process_state_payload_refuses_unknown_state() -> None:
    with pytest.raises(ValueError):
        wire.process_state_payload("SLEEPING", "a", "a", "RUNNING")


def test_process_log_payload() -> None:
    assert wire.process_log_payload("talk", "grp", 15491, "stdout", b"hello\n") == (
        "processname:talk groupname:grp pid:15491 channel:stdout\nhello\n"
    )
    assert wire.process_log_payload("talk", "grp", 1, "stderr", b"x").startswith(
        "processname:talk groupname:grp pid:1 channel:stderr\n"
    )


def test_process_communication_payload() -> None:
    assert wire.process_communication_payload("talk", "talk", 15491, b"captured") == (
        "processname:talk groupname:talk pid:15491\ncaptured"
    )


def test_undecodable_output_is_shown_as_bytes_repr() -> None:
    assert wire.process_log_payload("a", "a", 1, "stdout", b"\xff\xfe") == (
        "processname:a groupname:a pid:1 channel:stdout\nUndecodable: b'\\xff\\xfe'"
    )


def test_remote_supervisor_tick_and_group_payloads() -> None:
    assert wire.remote_communication_payload("mytype", "data") == "type:mytype\ndata"
    assert wire.supervisor_state_payload() == ""
    assert wire.tick_payload(1795609445) == "when:1795609445"
    assert wire.process_group_payload("talk") == "groupname:talk\n"


def test_channel_names() -> None:
    assert wire.log_event_name("stdout") == "PROCESS_LOG_STDOUT"
    assert wire.log_event_name("stderr") == "PROCESS_LOG_STDERR"
    assert wire.communication_event_name("stdout") == "PROCESS_COMMUNICATION_STDOUT"
    assert wire.communication_event_name("stderr") == "PROCESS_COMMUNICATION_STDERR"
