"""XML-RPC and log streaming to a Supervisor-compatible server, standard library only.

`serverurl` is `unix:///abs/path` or `http://host[:port]`. Requests go over one kept-alive
HTTP/1.1 connection written and read here (a POST and its answer, nothing more), so that
neither `xmlrpc.client` nor `http.client` (with email and ssl behind it) is loaded unless a
command needs it: `tail -f` and `fg` stream through `http.client`.

Errors are those the standard library raises, so the controller and the error lines read as
supervisorctl's: OSError (errno ECONNREFUSED/ENOENT) to connect, `xmlrpc.client.Fault`,
`xmlrpc.client.ProtocolError` for an HTTP status other than 200. `client.Fault`,
`client.ProtocolError` and `client.Error` are those classes, imported on first use (an
`except client.Fault:` clause looks the name up only when an exception is on its way).
"""

from __future__ import annotations

import socket
import sys

from corral.wire import xmlrpc as rpcwire

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from http.client import HTTPConnection
    from typing import Any
    from xmlrpc.client import Error, Fault, ProtocolError

__all__ = ["Error", "Fault", "LogStream", "ProtocolError", "Server", "make_proxy"]

# The URL named in ProtocolError text: supervisorctl's proxy says `127.0.0.1/RPC2`.
_ERROR_HOST = "127.0.0.1"
_HANDLER = "/RPC2"
_USER_AGENT = "corralctl"


def __getattr__(name: str) -> object:
    if name in ("Error", "Fault", "ProtocolError"):
        import xmlrpc.client

        return getattr(xmlrpc.client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# [supervisorctl] cafile, certfile, keyfile for https:// servers (set by ctl.main)
TLS_FILES: tuple[str | None, str | None, str | None] = (None, None, None)


def _target(serverurl: str) -> tuple[str | None, tuple[str, int], str]:
    """(unix socket path or None, (host, port), Host header) of `serverurl`."""
    if serverurl.startswith("unix://"):
        return serverurl[len("unix://") :], ("localhost", 80), "localhost"
    if serverurl.startswith(("http://", "https://")):
        from urllib.parse import urlsplit

        parts = urlsplit(serverurl)
        default = 443 if parts.scheme == "https" else 80
        if parts.hostname:
            port = parts.port or default
            host = parts.netloc.rpartition("@")[2] if port != default else parts.hostname
            return None, (parts.hostname, port), host
    raise ValueError(f"Unknown protocol for serverurl {serverurl}")


def tls_context() -> Any:
    """How corralctl checks an https:// server: the system's CAs or [supervisorctl] cafile,
    the host name, TLS 1.2 or newer; with certfile, its own certificate too (mTLS)."""
    import ssl

    cafile, certfile, keyfile = TLS_FILES
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if certfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def auth_headers(username: str | None, password: str | None) -> list[tuple[str, str]]:
    """Basic auth only when both parts are set, as supervisorctl does."""
    if not username or not password:
        return []
    import base64

    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return [("Authorization", f"Basic {token}")]


def connect(serverurl: str) -> socket.socket:
    path, address, _ = _target(serverurl)
    if path is None:
        sock = socket.create_connection(address)
        if serverurl.startswith("https://"):
            try:
                return tls_context().wrap_socket(sock, server_hostname=address[0])  # type: ignore[no-any-return]
            except BaseException:
                sock.close()
                raise
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


class _Response:
    """One HTTP response read off a socket: status, headers, body, keep-alive or not."""

    def __init__(self, reader: _Reader) -> None:
        line = reader.line()
        if not line:
            raise ConnectionResetError("the server closed the connection")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise ConnectionError(f"bad HTTP status line: {line!r}")
        self.version = parts[0]
        self.status = int(parts[1])
        self.reason = parts[2] if len(parts) > 2 else ""
        self.headers: dict[str, str] = {}
        while True:
            header = reader.line()
            if header in (b"\r\n", b"\n", b""):
                break
            name, _, value = header.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()
        connection = self.headers.get("connection", "").lower()
        self.keep_alive = (
            connection != "close" if self.version == "HTTP/1.1" else connection == "keep-alive"
        )
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.body = reader.chunked()
        elif "content-length" in self.headers:
            self.body = reader.exactly(int(self.headers["content-length"]))
        else:
            self.body = reader.rest()
            self.keep_alive = False


class _Reader:
    """Buffered reads from a socket: lines, exact sizes, chunked bodies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)

    def line(self) -> bytes:
        while b"\n" not in self.buffer:
            if not self._fill():
                line, self.buffer = self.buffer, b""
                return line
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionResetError("the server closed the connection mid-response")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.line().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self.exactly(size))
            self.exactly(2)  # CRLF after the chunk

    def rest(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data


class Server:
    """XML-RPC calls to one server over a kept-alive connection.

    `server.call("supervisor.getState")`, or through the namespaces:
    `server.supervisor.getState()`.
    """

    def __init__(self, serverurl: str, username: str | None, password: str | None) -> None:
        self.serverurl = serverurl
        _, _, host = _target(serverurl)
        headers = [
            ("Host", host),
            ("User-Agent", _USER_AGENT),
            ("Content-Type", "text/xml"),
            *auth_headers(username, password),
        ]
        self._head = "".join(f"{k}: {v}\r\n" for k, v in headers)
        self._sock: socket.socket | None = None
        self._reader: _Reader | None = None

    def call(self, method: str, *params: object) -> object:
        body = rpcwire.dumps_call(method, params)
        request = (
            f"POST {_HANDLER} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1") + body
        reused = self._sock is not None
        try:
            response = self._exchange(request)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.close()
            if not reused:
                raise
            # The server dropped an idle kept-alive connection: once more on a new one.
            response = self._exchange(request)
        if not response.keep_alive:
            self.close()
        if response.status != 200:
            self.close()
            import xmlrpc.client

            raise xmlrpc.client.ProtocolError(
                _ERROR_HOST + _HANDLER, response.status, response.reason, response.headers
            )
        return rpcwire.loads_response(response.body)

    def _exchange(self, request: bytes) -> _Response:
        if self._sock is None:
            self._sock = connect(self.serverurl)
            self._reader = _Reader(self._sock)
        assert self._reader is not None
        self._sock.sendall(request)
        return _Response(self._reader)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._reader = None

    def __getattr__(self, namespace: str) -> _Namespace:
        if namespace.startswith("_"):
            raise AttributeError(namespace)
        return _Namespace(self, namespace)

    def __call__(self, attr: str) -> Callable[[], None]:
        """`proxy("close")()`, as ServerProxy spells it."""
        if attr != "close":
            raise AttributeError(attr)
        return self.close


class _Namespace:
    def __init__(self, server: Server, name: str) -> None:
        self._server = server
        self._name = name

    def __getattr__(self, method: str) -> Callable[..., object]:
        if method.startswith("_"):
            raise AttributeError(method)
        server, name = self._server, f"{self._name}.{method}"

        def call(*params: object) -> object:
            return server.call(name, *params)

        return call


def make_proxy(serverurl: str, username: str | None, password: str | None) -> Server:
    """A client whose `.supervisor` and `.system` namespaces talk to `serverurl`."""
    return Server(serverurl, username, password)


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
        import threading

        self.write = write
        self.closed = threading.Event()
        self._conn: HTTPConnection | None = None

    def _open(self) -> HTTPConnection:
        import http.client

        path, (hostname, port), _ = _target(self.serverurl)
        if path is None and self.serverurl.startswith("https://"):
            return http.client.HTTPSConnection(hostname, port, context=tls_context())
        if path is None:
            return http.client.HTTPConnection(hostname, port)
        conn = http.client.HTTPConnection("localhost")
        conn.sock = connect(self.serverurl)
        return conn

    def run(self) -> None:
        """Copy until the server closes, `close()` is called, or an HTTP error."""
        import codecs

        conn = self._open()
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
