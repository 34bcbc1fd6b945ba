"""The one XML-RPC encoder writes what xmlrpc.client.dumps writes: answers, faults, calls."""

from __future__ import annotations

import enum
import xmlrpc.client
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.wire import xmlrpc as wire

# Any text but lone surrogates (which UTF-8 cannot carry, for either encoder).
text = st.text(st.characters(blacklist_categories=("Cs",)))
scalars = (
    text
    | st.integers(min_value=wire.MININT, max_value=wire.MAXINT)
    | st.booleans()
    | st.floats()
    | st.binary(max_size=80)
    | st.datetimes(min_value=datetime(1000, 1, 1))
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(text, inner, max_size=4)
    ),
    max_leaves=20,
)


def stdlib_response(value: object) -> bytes:
    return xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")


@given(values)
def test_answers_are_the_standard_librarys_bytes(value: object) -> None:
    assert wire.dumps_response(value) == stdlib_response(value)


@given(st.integers(), text)
def test_faults_are_the_standard_librarys_bytes(code: int, string: str) -> None:
    if not wire.MININT <= code <= wire.MAXINT:
        with pytest.raises(OverflowError):
            wire.dumps_fault(code, string)
        return
    want = xmlrpc.client.dumps(xmlrpc.client.Fault(code, string)).encode("utf-8")
    assert wire.dumps_fault(code, string) == want


@given(st.lists(values, max_size=3), text)
def test_calls_are_what_server_proxy_sends(params: list[object], name: str) -> None:
    name = name.translate(str.maketrans({"<": "", "&": "", ">": ""})) or "m"
    want = xmlrpc.client.dumps(tuple(params), name).encode("utf-8", "xmlcharrefreplace")
    assert wire.dumps_call(name, params) == want


def test_a_process_info_list() -> None:
    info = {"name": "a&b", "group": "<g>", "pid": 42, "ok": True, "description": "pid 42"}
    assert wire.dumps_response([info, info]) == stdlib_response([info, info])


class State(enum.IntEnum):
    RUNNING = 20


class Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [2**31, -(2**31) - 1, None, State.RUNNING, Text("x"), {1: 2}, [object()], {"a": {3j}}],
)
def test_what_xml_rpc_cannot_carry_is_refused_with_the_same_error(value: object) -> None:
    with pytest.raises(Exception) as theirs:
        stdlib_response(value)
    with pytest.raises(type(theirs.value)) as ours:
        wire.dumps_response(value)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(type(theirs.value)):
        wire.dumps_call("m", [value])


def test_a_lone_surrogate_fails_an_answer_but_is_a_char_ref_in_a_call() -> None:
    with pytest.raises(UnicodeEncodeError):
        wire.dumps_response("\udc80")
    assert b"<string>&#56448;</string>" in wire.dumps_call("m", ["\udc80"])


def test_the_daemons_fault_reads_like_the_standard_librarys() -> None:
    fault = wire.Fault(10, "BAD_NAME: x")
    assert (fault.faultCode, fault.faultString) == (10, "BAD_NAME: x")
    assert repr(fault) == repr(xmlrpc.client.Fault(10, "BAD_NAME: x"))
