"""XML-RPC marshalling for corralctl without `xmlrpc.client` on the import path.

`xmlrpc.client` pulls in http.client, email and ssl: about 25 ms before the first request,
most of corralctl's start-up. This module encodes requests and decodes responses with
`xml.parsers.expat` only, and answers exactly as `xmlrpc.client.dumps`/`loads` do (a property
test checks both ways). Faults and malformed responses raise the standard library's own
`Fault` and `ResponseError`, imported only then; so are `DateTime`, `Binary` and `Decimal`,
which no Supervisor server sends.
"""

from __future__ import annotations

from xml.parsers import expat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
MAXINT = 2**31 - 1
MININT = -(2**31)


def _value(value: object, out: list[str]) -> None:
    # bool before int: it is one. Types and text as xmlrpc.client's Marshaller writes them.
    if isinstance(value, bool):
        out.append(f"<value><boolean>{int(value)}</boolean></value>\n")
    elif isinstance(value, int):
        if not MININT <= value <= MAXINT:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>\n")
    elif isinstance(value, str):
        out.append(f"<value><string>{value.translate(_ESCAPES)}</string></value>\n")
    elif isinstance(value, float):
        out.append(f"<value><double>{value!r}</double></value>\n")
    elif isinstance(value, (list, tuple)):
        out.append("<value><array><data>\n")
        for item in value:
            _value(item, out)
        out.append("</data></array></value>\n")
    elif isinstance(value, dict):
        out.append("<value><struct>\n")
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("dictionary key must be string")
            out.append(f"<member>\n<name>{key.translate(_ESCAPES)}</name>\n")
            _value(item, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    else:
        raise TypeError(f"cannot marshal {type(value)} objects")


def dumps_call(method: str, params: Iterable[object]) -> bytes:
    """A methodCall body, byte for byte what `xmlrpc.client.dumps(params, method)` writes."""
    out = ["<?xml version='1.0'?>\n<methodCall>\n<methodName>", method, "</methodName>\n"]
    out.append("<params>\n")
    for param in params:
        out.append("<param>\n")
        _value(param, out)
        out.append("</param>\n")
    out.append("</params>\n</methodCall>\n")
    return "".join(out).encode("utf-8", "xmlcharrefreplace")


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
