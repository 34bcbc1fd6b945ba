"""A fast encoder for XML-RPC responses, byte-identical to `xmlrpc.client.dumps`.

getAllProcessInfo on a host with hundreds of programs spends most of its time in the standard
library's generic marshaller; this one handles the types our methods return in one pass and
hands anything else to the standard library. A property test keeps the two identical.
"""

from __future__ import annotations

import xmlrpc.client
from typing import Any

_HEAD = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
_TAIL = "</param>\n</params>\n</methodResponse>\n"


class _Unsupported(Exception):
    pass


def _escape(s: str) -> str:
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def _dump(value: Any, out: list[str]) -> None:
    t = type(value)
    if t is str:
        out.append(f"<value><string>{_escape(value)}</string></value>\n")
    elif t is int:
        if not -2147483648 <= value <= 2147483647:
            raise OverflowError("int exceeds XML-RPC limits")
        out.append(f"<value><int>{value}</int></value>\n")
    elif t is bool:
        out.append(f"<value><boolean>{int(value)}</boolean></value>\n")
    elif t is dict:
        out.append("<value><struct>\n")
        for k, v in value.items():
            if type(k) is not str:
                raise _Unsupported
            out.append(f"<member>\n<name>{_escape(k)}</name>\n")
            _dump(v, out)
            out.append("</member>\n")
        out.append("</struct></value>\n")
    elif t is list or t is tuple:
        out.append("<value><array><data>\n")
        for v in value:
            _dump(v, out)
        out.append("</data></array></value>\n")
    else:
        raise _Unsupported


def dumps_response(value: Any) -> bytes:
    out: list[str] = [_HEAD]
    try:
        _dump(value, out)
    except _Unsupported:
        return xmlrpc.client.dumps((value,), methodresponse=True).encode("utf-8")
    out.append(_TAIL)
    return "".join(out).encode("utf-8")
