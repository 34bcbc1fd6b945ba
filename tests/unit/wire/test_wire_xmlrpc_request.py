"""corrald reads a methodCall as it did with ElementTree (4.3's reading), and as xmlrpc.client
reads it wherever 4.3 agrees with the standard library."""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
import xmlrpc.client
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.wire.xmlrpc import MAX_DEPTH, loads_call

# -- the reading corrald had before it dropped ElementTree, kept as the oracle ------------------


class Refused(Exception):
    pass


def reference(body: bytes) -> tuple[str, list[Any]]:
    try:
        root = ET.fromstring(body)
        name_el = root.find("methodName")
        name = name_el.text if name_el is not None else None
        if not name:
            raise Refused("no method name")
        params_el = root.find("params")
        params = [] if params_el is None else [_ref_value(p[0]) for p in params_el]
    except Refused:
        raise
    except (ET.ParseError, ValueError, TypeError, IndexError, binascii.Error) as exc:
        raise Refused(f"unmarshallable: {exc}") from None
    return name, params


def _ref_value(value: ET.Element) -> Any:
    if len(value) == 0:
        return value.text or ""
    typed = value[0]
    tag, text = typed.tag, typed.text
    if tag in ("int", "i4"):
        return int(text)  # type: ignore[arg-type]
    if tag == "boolean":
        return text == "1"
    if tag == "string":
        return text or ""
    if tag == "double":
        return float(text)  # type: ignore[arg-type]
    if tag == "dateTime.iso8601":
        return datetime.strptime(text or "", "%Y%m%dT%H:%M:%S")
    if tag == "base64":
        return base64.b64decode((text or "").encode("ascii")).decode("utf-8")
    if tag == "array":
        return [_ref_value(v) for v in typed[0]]
    if tag == "struct":
        return {(m[0].text or ""): _ref_value(m[1]) for m in typed}
    return text


def ours(body: bytes) -> tuple[str, list[Any]]:
    try:
        return loads_call(body)
    except ValueError as exc:
        raise Refused(str(exc)) from None


def outcome(read: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "ok", read(body)
    except Refused:
        return "refused", None  # HTTP 400
    except Exception as exc:
        return "error", type(exc)  # HTTP 500


# -- generated calls: (XML, what corrald reads, what xmlrpc.client reads) --------------------------


def escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# XML 1.0 characters (a bare CR is read back as LF by any parser).
xml_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\ufffe\uffff").filter(
        lambda c: c in "\t\n" or ord(c) >= 0x20
    )
)
space = st.sampled_from(["", "\n", "  \n\t"])
Case = tuple[str, Any, Any]


def _scalar(tag: str, text: str, mine: Any, theirs: Any) -> Case:
    return f"<value><{tag}>{text}</{tag}></value>", mine, theirs


def _stamp(d: datetime) -> str:
    return d.strftime("%Y%m%dT%H:%M:%S")


scalars: st.SearchStrategy[Case] = st.one_of(
    st.integers(-(2**40), 2**40).map(lambda n: _scalar("int", str(n), n, n)),
    st.integers(-(2**31), 2**31 - 1).map(lambda n: _scalar("i4", str(n), n, n)),
    st.integers(-(2**63), 2**63 - 1).map(lambda n: _scalar("i8", str(n), str(n), n)),
    st.booleans().map(lambda b: _scalar("boolean", str(int(b)), b, b)),
    xml_text.map(lambda s: _scalar("string", escape(s), s, s)),
    xml_text.map(lambda s: (f"<value>{escape(s)}</value>", s, s)),
    st.just(("<value><string></string></value>", "", "")),
    st.just(("<value><string/></value>", "", "")),
    st.just(("<value/>", "", "")),
    st.floats(allow_nan=False).map(lambda f: _scalar("double", repr(f), f, f)),
    st.datetimes(min_value=datetime(1900, 1, 1)).map(
        lambda d: _scalar("dateTime.iso8601", _stamp(d), d.replace(microsecond=0), _stamp(d))
    ),
    xml_text.map(
        lambda s: _scalar(
            "base64", base64.b64encode(s.encode()).decode(), s, s.encode("utf-8", "replace")
        )
    ),
    st.just(("<value><nil/></value>", None, None)),
)


def _array(items: list[Case], gap: str) -> Case:
    xml = gap.join(["<value><array><data>", *(x for x, _, _ in items), "</data></array></value>"])
    return xml, [m for _, m, _ in items], [t for _, _, t in items]


def _struct(members: list[tuple[str, Case]], gap: str) -> Case:
    parts = [f"<member><name>{escape(k)}</name>{gap}{x}</member>" for k, (x, _, _) in members]
    return (
        gap.join(["<value><struct>", *parts, "</struct></value>"]),
        {k: m for k, (_, m, _) in members},
        {k: t for k, (_, _, t) in members},
    )


values: st.SearchStrategy[Case] = st.recursive(
    scalars,
    lambda inner: (
        st.builds(_array, st.lists(inner, max_size=4), space)
        | st.builds(_struct, st.lists(st.tuples(xml_text, inner), max_size=4), space)
    ),
    max_leaves=15,
)
names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF), min_size=1).filter(
    lambda s: s.strip()
)


def _normal(value: Any) -> Any:
    """xmlrpc.client's wrappers as plain values: base64 as bytes, dateTime as its text."""
    if isinstance(value, xmlrpc.client.Binary):
        return value.data
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value


@given(names, st.lists(values, max_size=4), space, st.booleans(), st.booleans())
def test_generated_calls_read_as_before_and_as_the_standard_library(
    name: str, params: list[Case], gap: str, declaration: bool, wrapped: bool
) -> None:
    body_params = "".join(f"<param>{gap}{x}{gap}</param>" for x, _, _ in params)
    doc = (
        ("<?xml version='1.0'?>\n" if declaration else "")
        + f"<methodCall>{gap}<methodName>{escape(name)}</methodName>{gap}"
        + (f"<params>{gap}{body_params}</params>" if wrapped or params else "")
        + "</methodCall>"
    )
    body = doc.encode()
    mine = [m for _, m, _ in params]
    assert ours(body) == (name, mine)
    assert reference(body) == (name, mine)
    got, method = xmlrpc.client.loads(body, use_datetime=False)
    assert (method, _normal(list(got))) == (name, [t for _, _, t in params])


# -- odd requests: corrald answers them as before (a value, a 400 or a 500) ---------------------

CALL = "<methodCall><methodName>x.y</methodName><params>{}</params></methodCall>"


def one(value: str) -> bytes:
    return CALL.format(f"<param>{value}</param>").encode()


def nested_arrays(depth: int, inner: str = "") -> bytes:
    return one("<value><array><data>" * depth + inner + "</data></array></value>" * depth)


def nested_structs(depth: int) -> bytes:
    return one(
        "<value><struct>"
        + "<member><name>k</name><value><struct>" * depth
        + "</struct></value></member>" * depth
        + "</struct></value>"
    )


ODD = [
    b"<methodCall><methodName>x.y</methodName></methodCall>",
    b"<methodCall><methodName> </methodName></methodCall>",
    b"<methodCall><methodName>a<b/>c</methodName></methodCall>",
    b"<methodCall><methodName>x</methodName><methodName>y</methodName></methodCall>",
    b"<methodResponse><methodName>x.y</methodName></methodResponse>",
    b"<methodCall><methodName></methodName></methodCall>",
    b"<methodCall><methodName/></methodCall>",
    b"<methodCall><params/></methodCall>",
    b"<methodCall><x><methodName>a.b</methodName></x></methodCall>",
    b'<methodCall xmlns="urn:x"><methodName>a.b</methodName></methodCall>',
    b"not xml",
    b"",
    b"<methodCall><methodName>x.y</methodName>",
    "<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>\xe9</methodName>"
    "</methodCall>".encode("latin-1"),
    b"<methodCall><methodName>x.y</methodName><params><param><value>a</value></param>"
    b"</params><params><param><value>b</value></param></params></methodCall>",
    one("<value><int> 7 </int></value>"),
    one("<value><int>1_000</int></value>"),
    one("<value><int>+5</int></value>"),
    one("<value><int>z</int></value>"),
    one("<value><int></int></value>"),
    one("<value><int>" + "9" * 5000 + "</int></value>"),
    one("<value><i4>99999999999</i4></value>"),
    one("<value><i8/></value>"),
    one("<value><boolean>2</boolean></value>"),
    one("<value><boolean>true</boolean></value>"),
    one("<value><boolean/></value>"),
    one("<value><double>nan</double></value>"),
    one("<value><double> inf </double></value>"),
    one("<value><double/></value>"),
    one("<value><double>x</double></value>"),
    one("<value><bogus>text</bogus></value>"),
    one("<value><bogus><int>1</int></bogus></value>"),
    one('<value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value>'),
    one("<value><ex:nil/></value>"),
    one("<value><int>1</int><string>x</string></value>"),
    one("<value>before<int>1</int>after</value>"),
    one("<value><string>a<!-- c -->b</string></value>"),
    one("<value><string>a<?pi x?>b</string></value>"),
    one("<value><string><![CDATA[<&>]]></string></value>"),
    one("<value><string>a<b>inner</b>tail</string></value>"),
    one("<value><string>&#233;&#x1F600;&quot;&apos;</string></value>"),
    one("<value><string>&nosuch;</string></value>"),
    one("<value><base64>aGk=</base64></value>"),
    one("<value><base64>aG k=\n</base64></value>"),
    one("<value><base64>aGk</base64></value>"),
    one("<value><base64>/w==</base64></value>"),
    one("<value><base64>\u00e9</base64></value>"),
    one("<value><base64/></value>"),
    one("<value><dateTime.iso8601>20240101T10:00:00</dateTime.iso8601></value>"),
    one("<value><dateTime.iso8601>2024-01-01T10:00:00</dateTime.iso8601></value>"),
    one("<value><dateTime.iso8601/></value>"),
    one("<value><array><data/></array></value>"),
    one("<value><array/></value>"),
    one("<value><array><other><value>1</value><x>2</x></other></array></value>"),
    one("<value><struct/></value>"),
    one("<value><struct><member><name>a</name></member></struct></value>"),
    one("<value><struct><member><name/><value>v</value></member></struct></value>"),
    one(
        "<value><struct><member><name>k</name><value>1</value><value>2</value></member>"
        "<member><name>k</name><value>3</value></member></struct></value>"
    ),
    one("<value><struct><m><n>k</n><v>1</v></m></struct></value>"),
    CALL.format("<param/>").encode(),
    CALL.format("<param>text</param>").encode(),
    CALL.format("<foo><bar>1</bar></foo>").encode(),
    CALL.format("\n<param>\n<value>a</value>\n</param>\n").encode(),
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e "ent">]><methodCall><methodName>x.y'
    b"</methodName><params><param><value>&e;</value></param></params></methodCall>",
    b'<?xml version="1.0"?><!DOCTYPE m SYSTEM "m.dtd"><methodCall><methodName>x.y'
    b"</methodName><params><param><value>&e;</value></param></params></methodCall>",
    *(nested_arrays(depth) for depth in (10, 160)),
    *(nested_structs(depth) for depth in (10, 160)),
]


@pytest.mark.parametrize("body", ODD, ids=lambda body: body[:90].decode("utf-8", "replace"))
def test_odd_requests_are_answered_as_before(body: bytes) -> None:
    assert repr(outcome(ours, body)) == repr(outcome(reference, body))  # repr: nan != nan


def test_the_log_says_why_a_request_was_refused() -> None:
    with pytest.raises(ValueError, match=r"^no method name$"):
        loads_call(b"<methodCall><params/></methodCall>")
    with pytest.raises(ValueError, match=r"^unmarshallable: syntax error: line 1, column 0$"):
        loads_call(b"not xml")
    with pytest.raises(ValueError, match=r"^unmarshallable: invalid literal for int"):
        loads_call(one("<value><int>z</int></value>"))


def test_nesting_past_max_depth_is_refused_like_malformed_xml() -> None:
    """4.3 reads any depth; corrald's reading recurses, so it stops at MAX_DEPTH elements
    (an HTTP 400, as for malformed XML) instead of failing with a RecursionError (a 500)."""
    # methodCall, params, param, then three elements per array, then the innermost value
    fits = (MAX_DEPTH - 4) // 3
    value: Any = [1]
    for _ in range(fits - 1):
        value = [value]
    assert loads_call(nested_arrays(fits, "<value><int>1</int></value>")) == ("x.y", [value])
    for body in (
        nested_arrays(fits + 1, "<value><int>1</int></value>"),
        nested_arrays(100_000),
        nested_structs(100_000),
    ):
        with pytest.raises(ValueError, match=r"^unmarshallable: elements nested deeper than 512$"):
            loads_call(body)
    assert MAX_DEPTH == 512
