"""XML-RPC over the daemon's unix socket, the way supervisorctl reaches it."""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from typing import Any


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # a fresh connection per call, as supervisorctl does for each command
        return _UnixConnection(self._path, self._timeout)


def proxy(sock_path: str, timeout: float = 300.0) -> Any:
    """A ServerProxy whose .supervisor namespace talks to the daemon at sock_path."""
    return xmlrpc.client.ServerProxy(
        "http://localhost/RPC2", transport=_UnixTransport(sock_path, timeout), allow_none=True
    )


def round_trip(sock_path: str, method: str, *params: Any, timeout: float = 300.0) -> float:
    """Seconds from sending one XML-RPC request to having the whole response body: the
    daemon's latency, without the client's XML parsing (the same for both systems).
    The response is parsed afterwards, untimed, to check it is a real answer."""
    return timed_call(sock_path, method, *params, timeout=timeout)[0]


def timed_call(
    sock_path: str, method: str, *params: Any, timeout: float = 300.0
) -> tuple[float, Any]:
    """round_trip's seconds, and the parsed result."""
    import time

    body = xmlrpc.client.dumps(params, method).encode()
    conn = _UnixConnection(sock_path, timeout)
    try:
        conn.connect()
        t0 = time.perf_counter()
        conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
        data = conn.getresponse().read()
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    result = xmlrpc.client.loads(data)[0][0]  # raises on a fault or garbage
    return elapsed, result
