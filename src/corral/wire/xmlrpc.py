"""XML-RPC on the wire, without `xmlrpc.client` on the import path.

`xmlrpc.client` pulls in http.client and email (about 1.9 MiB and 25 ms at start-up) for
nothing either side needs. This module writes exactly what `xmlrpc.client.dumps` writes and
reads with `xml.parsers.expat` only; property tests hold both against the standard library.

    dumps_call(method, params) -> bytes      corralctl's request
    loads_call(body) -> (method, params)     corrald's reading of a request, as 4.3 reads it
    dumps_response(value) -> bytes           corrald's answer
    dumps_fault(code, string) -> bytes       corrald's fault answer
    loads(body), loads_response(body)        corralctl's reading of an answer, as
                                             `xmlrpc.client.loads` reads it

The two readers differ on purpose: the client reads what any server may send the way the
standard library does (i8 is an int, a <fault> raises `xmlrpc.client.Fault`, imported only
then), while the daemon reads requests the way supervisord 4.3 does (i8 and nil arrive as
their text, base64 as decoded text). `Fault` below is the daemon's own exception.
"""

from __future__ import annotations

import sys
from xml.parsers import expat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

MAXINT = 2**31 - 1
MININT = -(2**31)
# Element nesting a request may have: 169 nested arrays or structs (three elements each). The
# reading below takes two frames per nested value, so this keeps it far from the interpreter's
# recursion limit; 4.3 reads any depth. Deeper is refused like malformed XML (HTTP 400).
MAX_DEPTH = 512


class Fault(Exception):
    """An XML-RPC fault the daemon answers with (the standard library's has the same shape)."""

    def __init__(self, faultCode: int, faultString: str) -> None:
        super().__init__(faultCode, faultString)
        self.faultCode = faultCode
        self.faultString = faultString

    def __repr__(self) -> str:
        return f"<Fault {self.faultCode}: {self.faultString!r}>"


# -- encoding ---------------------------------------------------------------------------


def _escape(s: str) -> str:
    # `in` first: most strings hold none of the three, and the test is cheaper than replace.
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def _dump(value: Any, out: list[str]) -> None:
    # By exact type, as the standard library's Marshaller dispatches (a bool is no int here,
    # and subclasses of these types are refused).
    t = type(value)
    if t is str:
        out.append(f"<value><string>{_escape(value)}</string></value>\n")
    elif t is int:
        if not MININT <= value <= MAXINT:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>\n")
    elif t is bool:
        out.append(f"<value><boolean>{int(value)}</boolean></value>\n")
    elif t is dict:
        out.append("<value><struct>\n")
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError("dictionary key must be string")
            out.append(f"<member>\n<name>{_escape(k)}</name>\n")
            _dump(v, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif t is list or t is tuple:
        out.append("<value><array><data>\n")
        for v in value:
            _dump(v, out)
        out.append("</data></array></value>\n")
    elif t is float:
        out.append(f"<value><double>{value!r}</double></value>\n")
    else:
        _dump_rare(value, out)


def _dump_rare(value: Any, out: list[str]) -> None:
    """Types no corral method returns, written as the standard library writes them.

    Instances of other classes are refused (the standard library would send their
    `__dict__` as a struct), as are recursive containers (a RecursionError, not its TypeError).
    """
    t = type(value)
    if value is None:
        raise TypeError("cannot marshal None unless allow_none is enabled")
    dt = sys.modules.get("datetime")  # no datetime exists before its module is loaded
    if t is bytes or t is bytearray:
        import base64

        out.append(
            f"<value><base64>\n{base64.encodebytes(value).decode('ascii')}</base64></value>\n"
        )
    elif dt is not None and t is dt.datetime:
        stamp = (
            f"{value.year:04d}{value.month:02d}{value.day:02d}"
            f"T{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
        )
        out.append(f"<value><dateTime.iso8601>{stamp}</dateTime.iso8601></value>\n")
    else:
        raise TypeError(f"cannot marshal {t} objects")


_HEAD = "<?xml version='1.0'?>\n"


def dumps_call(method: str, params: Iterable[object]) -> bytes:
    """A methodCall body, byte for byte what `xmlrpc.client.dumps(params, method)` writes
    (encoded as ServerProxy encodes it)."""
    out = [_HEAD, "<methodCall>\n<methodName>", method, "</methodName>\n<params>\n"]
    for param in params:
        out.append("<param>\n")
        _dump(param, out)
        out.append("</param>\n")
    out.append("</params>\n</methodCall>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


def dumps_response(value: object) -> bytes:
    """`xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")`, in one pass."""
    out = [_HEAD, "<methodResponse>\n<params>\n<param>\n"]
    _dump(value, out)
    out.append("</param>\n</params>\n</methodResponse>\n")
    return "".join(out).encode("utf-8")


def dumps_fault(code: int, string: str) -> bytes:
    """`xmlrpc.client.dumps(Fault(code, string)).encode("utf-8")`."""
    out = [_HEAD, "<methodResponse>\n<fault>\n"]
    _dump({"faultCode": code, "faultString": string}, out)
    out.append("</fault>\n</methodResponse>\n")
    return "".join(out).encode("utf-8")


# -- the daemon's reading of a request ----------------------------------------------------

# A parsed element, as much of ElementTree's as the reading below looks at:
# [tag, text before the first child (None if there is none), children].
if TYPE_CHECKING:
    _Node = list[Any]


def _tree(body: bytes) -> _Node:
    """The document's root element, parsed as `xml.etree.ElementTree.fromstring` parses it:
    namespaces resolved (so `ex:nil` needs its prefix declared), comments skipped, an
    undefined entity refused."""
    top: _Node = ["", None, []]
    stack = [top]

    def start(tag: str, attrs: object) -> None:
        if len(stack) > MAX_DEPTH:  # the stack holds `top` and this element's ancestors
            raise ValueError(f"elements nested deeper than {MAX_DEPTH}")
        node: _Node = [tag, None, []]
        stack[-1][2].append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        node = stack[-1]
        if not node[2]:  # text after a child is that child's tail, which nobody reads
            node[1] = data if node[1] is None else node[1] + data

    def default(data: str) -> None:
        if data[:1] == "&":
            raise ValueError(f"undefined entity {data}")

    parser = expat.ParserCreate(None, "}")
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.DefaultHandlerExpand = default
    parser.Parse(body, True)
    root: _Node = top[2][0]
    return root


def _child(node: _Node, tag: str) -> _Node | None:
    child: _Node
    for child in node[2]:
        if child[0] == tag:
            return child
    return None


def loads_call(body: bytes) -> tuple[str, list[Any]]:
    """(method name, params) of a methodCall, read the way supervisord 4.3 reads it.

    Types int, i4, boolean, string, double, dateTime.iso8601, base64 (decoded to text),
    array and struct are converted; a bare <value> is a string; any other type tag (i8,
    nil, ...) arrives as its text. <params> may be missing; element names other than the
    type tags are not checked. ValueError for anything unreadable (including elements
    nested deeper than MAX_DEPTH), worded for the log.
    """
    import binascii

    try:
        root = _tree(body)
        name_el = _child(root, "methodName")
        name = name_el[1] if name_el is not None else None
        if not name:
            raise _NoName
        params_el = _child(root, "params")
        params = [] if params_el is None else [_value(p[2][0]) for p in params_el[2]]
    except _NoName:
        raise ValueError("no method name") from None
    except (expat.ExpatError, ValueError, TypeError, IndexError, binascii.Error) as exc:
        raise ValueError(f"unmarshallable: {exc}") from None
    except RecursionError:  # MAX_DEPTH keeps this from happening; should it still, it is a 400
        raise ValueError("unmarshallable: nested too deeply") from None
    return name, params


class _NoName(Exception):
    pass


def _value(value: _Node) -> Any:
    children = value[2]
    if not children:
        return value[1] or ""
    tag, text, inner = children[0]
    if tag in ("int", "i4"):
        return int(text)  # None -> TypeError -> unmarshallable
    if tag == "boolean":
        return text == "1"
    if tag == "string":
        return text or ""
    if tag == "double":
        return float(text)
    if tag == "dateTime.iso8601":
        from datetime import datetime

        return datetime.strptime(text or "", "%Y%m%dT%H:%M:%S")
    if tag == "base64":
        import base64

        return base64.b64decode((text or "").encode("ascii")).decode("utf-8")
    if tag == "array":
        return [_value(v) for v in inner[0][2]]
    if tag == "struct":
        return {(m[2][0][1] or ""): _value(m[2][1]) for m in inner}
    return text


# -- the client's reading of an answer ------------------------------------------------------


def _response_error(message: str | None = None) -> Exception:
    import xmlrpc.client

    if message is None:
        return xmlrpc.client.ResponseError()
    return xmlrpc.client.ResponseError(message)


def _boolean(text: str) -> bool:
    if text == "0":
        return False
    if text == "1":
        return True
    raise TypeError("bad boolean value")


def _datetime(text: str) -> object:
    import xmlrpc.client

    value = xmlrpc.client.DateTime()
    value.decode(text)
    return value


def _base64(text: str) -> object:
    import xmlrpc.client

    value = xmlrpc.client.Binary()
    value.decode(text.encode("ascii"))
    return value


def _decimal(text: str) -> object:
    import decimal

    return decimal.Decimal(text)


# Scalar element -> how its text becomes a value.
_SCALARS: dict[str, Callable[[str], object]] = {
    "boolean": _boolean,
    "int": int,
    "i1": int,
    "i2": int,
    "i4": int,
    "i8": int,
    "biginteger": int,
    "double": float,
    "float": float,
    "bigdecimal": _decimal,
    "string": str,
    "name": str,  # a struct member's name is pushed like a string, then paired up
    "dateTime.iso8601": _datetime,
    "base64": _base64,
}
# Elements a <value> may contain or that frame the document; anything else inside a value
# is refused, as the standard library refuses it.
_KNOWN = frozenset(
    {*_SCALARS, "nil", "value", "array", "struct", "data", "member"}
    | {"params", "param", "fault", "methodResponse", "methodCall", "methodName"}
)


class _Decoder:
    """xmlrpc.client's Unmarshaller, as a stack of values and marks."""

    def __init__(self) -> None:
        self.stack: list[object] = []
        self.marks: list[int] = []
        self.data: list[str] = []
        self.kind: str | None = None  # "params", "fault" or "methodName"
        self.method: str | None = None
        self.bare = False  # inside <value> with no typed child yet: text is a string

    def start(self, tag: str, attrs: object) -> None:
        if ":" in tag:
            tag = tag.rsplit(":", 1)[1]
        if tag in ("array", "struct"):
            self.marks.append(len(self.stack))
        self.data = []
        if self.bare and tag not in _KNOWN:
            raise _response_error(f"unknown tag {tag!r}")
        self.bare = tag == "value"

    def end(self, tag: str) -> None:
        if ":" in tag:
            tag = tag.rsplit(":", 1)[1]
        text = "".join(self.data)
        convert = _SCALARS.get(tag)
        if convert is not None:
            self.stack.append(convert(text))
            self.bare = False
        elif tag == "value":
            if self.bare:
                self.stack.append(text)
                self.bare = False
        elif tag == "nil":
            self.stack.append(None)
            self.bare = False
        elif tag == "array":
            mark = self.marks.pop()
            self.stack[mark:] = [self.stack[mark:]]
            self.bare = False
        elif tag == "struct":
            mark = self.marks.pop()
            items = self.stack[mark:]
            # Pairs up name, value; an odd count fails (IndexError) as in the standard library.
            self.stack[mark:] = [{items[i]: items[i + 1] for i in range(0, len(items), 2)}]
            self.bare = False
        elif tag in ("params", "fault"):
            self.kind = tag
        elif tag == "methodName":
            self.method = text
            self.kind = "methodName"  # a call without <params> is still complete

    def chars(self, text: str) -> None:
        self.data.append(text)


def loads(body: bytes) -> tuple[tuple[object, ...], str | None]:
    """(params, method name) of a response or call, as `xmlrpc.client.loads` returns them.

    A <fault> raises `xmlrpc.client.Fault`.
    """
    decoder = _Decoder()
    parser = expat.ParserCreate(None, None)
    parser.StartElementHandler = decoder.start
    parser.EndElementHandler = decoder.end
    parser.CharacterDataHandler = decoder.chars
    parser.buffer_text = True
    parser.Parse(body, True)
    if decoder.kind is None or decoder.marks:
        raise _response_error()
    if decoder.kind == "fault":
        import xmlrpc.client

        raise xmlrpc.client.Fault(**decoder.stack[0])  # type: ignore[arg-type]
    return tuple(decoder.stack), decoder.method


def loads_response(body: bytes) -> object:
    """The single value of a methodResponse (or its Fault raised)."""
    params, _ = loads(body)
    if len(params) == 1:
        return params[0]
    return params
