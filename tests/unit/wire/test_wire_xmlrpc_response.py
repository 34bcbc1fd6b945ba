"""corralctl reads answers (and writes calls) exactly as xmlrpc.client does, on any value."""

from __future__ import annotations

import xmlrpc.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.wire import xmlrpc as rpcwire

# What an XML-RPC value can be on the wire (nil included: corral never sends it, others may).
# Characters XML 1.0 can carry (no other controls; a bare CR is read back as LF by any parser).
_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("\t\n"))
_scalars = (
    st.integers(rpcwire.MININT, rpcwire.MAXINT)
    | st.booleans()
    | _text
    | st.floats(allow_nan=False)
    | st.none()
)
values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_responses_decode_as_the_standard_library_decodes_them(value: object) -> None:
    body = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    assert rpcwire.loads(body) == xmlrpc.client.loads(body)
    assert rpcwire.loads_response(body) == value


@given(st.lists(values.filter(lambda v: "None" not in repr(v)), max_size=3), _text)
def test_calls_encode_byte_for_byte_as_the_standard_library(params: list, name: str) -> None:
    name = name.translate(str.maketrans({"<": "", "&": "", ">": ""})) or "m"
    assert rpcwire.dumps_call(name, params) == xmlrpc.client.dumps(tuple(params), name).encode(
        "utf-8", "xmlcharrefreplace"
    )
    assert rpcwire.loads(rpcwire.dumps_call(name, params)) == xmlrpc.client.loads(
        rpcwire.dumps_call(name, params)
    )


def test_a_fault_raises_the_standard_librarys_fault() -> None:
    body = xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: nosuch")).encode()
    with pytest.raises(xmlrpc.client.Fault) as info:
        rpcwire.loads_response(body)
    assert (info.value.faultCode, info.value.faultString) == (10, "BAD_NAME: nosuch")


@pytest.mark.parametrize(
    "body",
    [
        # bare text in <value> is a string; i8 and namespaced tags are understood
        b"<methodResponse><params><param><value>  hi </value></param></params></methodResponse>",
        b"<methodResponse><params><param><value><i8>7</i8></value></param></params>"
        b"</methodResponse>",
        b"<methodResponse><params><param><value><ex:nil/></value></param></params>"
        b"</methodResponse>",
        b"<methodResponse><params><param><value><dateTime.iso8601>20240101T10:00:00"
        b"</dateTime.iso8601></value></param><param><value><base64>aGk=</base64></value>"
        b"</param><param><value><bigdecimal>1.5</bigdecimal></value></param></params>"
        b"</methodResponse>",
        b"<methodCall><methodName>x.y</methodName></methodCall>",
        b"<methodResponse><params><param><value><struct><member><name>a</name>"
        b"<value><array><data><value><int> 3 </int></value></data></array></value></member>"
        b"</struct></value></param></params></methodResponse>",
    ],
)
def test_odd_but_valid_documents(body: bytes) -> None:
    assert rpcwire.loads(body) == xmlrpc.client.loads(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<methodResponse><params><param><value><int>x</int></value></param></params>"
        b"</methodResponse>",
        b"<methodResponse><params><param><value><boolean>2</boolean></value></param>"
        b"</params></methodResponse>",
        b"<methodResponse><params><param><value><bogus>1</bogus></value></param></params>"
        b"</methodResponse>",
        b"<methodResponse><params><param><value><array><data></data></value></param>"
        b"</params></methodResponse>",
        b"<methodResponse></methodResponse>",
        b"<methodResponse><params><param><value><struct><member><name>a</name></member>"
        b"</struct></value></param></params></methodResponse>",
        b"not xml",
    ],
)
def test_broken_documents_fail_the_same_way(body: bytes) -> None:
    with pytest.raises(Exception) as theirs:
        xmlrpc.client.loads(body)
    with pytest.raises(type(theirs.value)) as ours:
        rpcwire.loads(body)
    assert str(ours.value) == str(theirs.value)


def test_values_xml_rpc_cannot_carry_are_refused() -> None:
    with pytest.raises(OverflowError):
        rpcwire.dumps_call("m", [2**31])
    with pytest.raises(TypeError):
        rpcwire.dumps_call("m", [{1: 2}])
    with pytest.raises(TypeError):
        rpcwire.dumps_call("m", [object()])


def test_an_answer_of_any_depth_is_read_without_recursion() -> None:
    """As xmlrpc.client's stack-based reader: no depth limit on what a server sends."""
    depth = 100_000
    body = (
        b"<methodResponse><params><param>"
        + b"<value><array><data>" * depth
        + b"</data></array></value>" * depth
        + b"</param></params></methodResponse>"
    )
    value = rpcwire.loads_response(body)
    seen = 0
    while isinstance(value, list):
        seen += 1
        value = value[0] if value else None
    assert seen == depth
