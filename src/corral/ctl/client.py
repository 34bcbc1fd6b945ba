"""XML-RPC and log streaming to a Supervisor-compatible server, standard library only.

`serverurl` is `unix:///abs/path` or `http://host[:port]`. Errors are left as the standard
library raises them (OSError with errno ECONNREFUSED/ENOENT, xmlrpc.client.Fault,
xmlrpc.client.ProtocolError); the controller decides what the user sees.
"""

from __future__ import annotations

import base64
import codecs
import http.client
import socket
import sys
import threading
import urllib.parse
import xmlrpc.client
from collections.abc import Callable
from typing import Any

# The proxy's own URL is never dialled (the transport knows the real target); it only shows
# up in ProtocolError text, where supervisorctl shows `127.0.0.1/RPC2`.
_PROXY_URL = "http://127.0.0.1/RPC2"


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over an AF_UNIX socket; the Host header says `localhost`."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if self.timeout is not None:
                sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def open_connection(serverurl: str) -> http.client.HTTPConnection:
    """A not-yet-connected HTTP connection to `serverurl`'s server."""
    if serverurl.startswith("unix://"):
        return UnixHTTPConnection(serverurl[len("unix://") :])
    parts = urllib.parse.urlsplit(serverurl)
    if parts.scheme == "http" and parts.hostname:
        return http.client.HTTPConnection(parts.hostname, parts.port or 80)
    raise ValueError(f"Unknown protocol for serverurl {serverurl}")


def auth_headers(username: str | None, password: str | None) -> list[tuple[str, str]]:
    """Basic auth only when both parts are set, as supervisorctl does."""
    if not username or not password:
        return []
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return [("Authorization", f"Basic {token}")]


class ServerTransport(xmlrpc.client.Transport):
    """Dials `serverurl` whatever host the proxy names; keeps the connection alive."""

    def __init__(self, serverurl: str, username: str | None, password: str | None) -> None:
        super().__init__(headers=auth_headers(username, password))
        self.serverurl = serverurl

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection[1] is not None and self._connection[0] == self.serverurl:
            return self._connection[1]
        conn = open_connection(self.serverurl)
        self._connection = (self.serverurl, conn)
        return conn


def make_proxy(serverurl: str, username: str | None, password: str | None) -> Any:
    """A ServerProxy whose `.supervisor` and `.system` namespaces talk to `serverurl`."""
    transport = ServerTransport(serverurl, username, password)
    return xmlrpc.client.ServerProxy(_PROXY_URL, transport=transport)


class LogStream:
    """GET a streaming endpoint (`/logtail/...`, `/mainlogtail`) and copy it to a sink.

    `close()` may be called from another thread to stop the copy.
    """

    def __init__(
        self,
        serverurl: str,
        path: str,
        username: str | None,
        password: str | None,
        write: Callable[[str], None],
    ) -> None:
        self.serverurl = serverurl
        self.path = path
        self.headers = dict(auth_headers(username, password))
        self.write = write
        self.closed = threading.Event()
        self._conn: http.client.HTTPConnection | None = None

    def run(self) -> None:
        """Copy until the server closes, `close()` is called, or an HTTP error."""
        conn = open_connection(self.serverurl)
        self._conn = conn
        try:
            conn.request("GET", self.path, headers=self.headers)
            response = conn.getresponse()
            if response.status != 200:
                sys.stderr.write(
                    f"{self.serverurl}{self.path} Cannot read, status code {response.status}\n"
                )
                sys.stderr.flush()
                return
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            while not self.closed.is_set():
                chunk = response.read1(65536)
                if not chunk:
                    break
                text = decoder.decode(chunk)
                if text:
                    self.write(text)
        except OSError:
            if not self.closed.is_set():
                raise
        finally:
            conn.close()

    def close(self) -> None:
        self.closed.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
