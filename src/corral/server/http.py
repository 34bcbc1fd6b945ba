"""corrald's HTTP servers: one per [unix_http_server*] / [inet_http_server*] section.

Each server answers the same routes (checked in 4.3's order, by path prefix):

    /RPC2*          POST: XML-RPC (corral.api); other methods 400
    /logtail/<namespec>[/stdout|/stderr]   GET: the log's last 1 KiB, then follows it
    /mainlogtail    GET: same for the main log
    /ok.html        'OK' (health check)
    anything else   the web UI hook when given, else 404

Servers differ only in their credentials: each wraps the same Routes in its own auth check.
Connections are served by corral.server.connection (h11 on asyncio streams).

    ServerError     a socket cannot be bound (message worded as supervisord's usage errors)
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from corral import __version__
from corral.api import LoggerLike, make_registry
from corral.api.dispatch import BadRequest, Registry
from corral.config.model import Config
from corral.logs.tail import LogReadError, follow
from corral.runtime.errors import NoSuchProcess
from corral.server.auth import make_auth, require
from corral.server.connection import (
    BodyTooLarge,
    Handler,
    Limits,
    Request,
    Response,
    http_date,
    serve_connection,
)
from corral.server.sockets import ANOTHER_PROGRAM, BACKLOG, Bound, ServerError, bind_all
from corral.server.sockets import sections as _sections

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor as SupervisorLike

# A web UI plugs in here: return a response, or None to fall through to 404. It runs behind
# the server's auth check; `await request.read()` gives the body, Response(stream=...) streams.
UiHandler = Callable[[Request], Awaitable[Response | None]]


# The same version `corrald -v` prints; importlib.metadata would cost ~2 MiB of RSS.
SERVER = f"corral/{__version__}"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def error_page(status: int) -> Response:
    """The small HTML error document 4.3 sends with 400/401/404/500."""
    reason = _REASONS.get(status, "Error")
    body = (
        "<html><head><title>Error response</title></head><body>"
        f"<h1>Error response</h1><p>Error code {status}.</p><p>Message: {reason}.</p>"
        "</body></html>\n"
    )
    return Response(status, body.encode(), {"Content-Type": "text/html"})


class Routes:
    """The handlers, shared by every server of one daemon."""

    def __init__(
        self, sup: SupervisorLike, registry: Registry, log: LoggerLike, ui: UiHandler | None
    ) -> None:
        self.sup = sup
        self.registry = registry
        self.log = log
        self.ui = ui

    async def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/RPC2"):
            return await self.rpc(request)
        if path.startswith("/logtail"):
            return self.logtail(request)
        if path.startswith("/mainlogtail"):
            return self.mainlogtail(request)
        if path == "/ok.html":
            return Response(200, b"OK", {"Content-Type": "text/plain"})
        if self.ui is not None:
            try:
                response = await self.ui(request)
            except BodyTooLarge:
                raise  # the connection answers 413
            except Exception as exc:
                self.log.critical(f"Handling {request.method} {request.target} raised: {exc!r}")
                return error_page(500)
            if response is not None:
                return response
        return error_page(404)

    async def rpc(self, request: Request) -> Response:
        if request.method != "POST":
            return error_page(400)
        body = await request.read()
        try:
            answer = await self.registry.handle(body)
        except BadRequest as exc:
            self.log.error(f"XML-RPC request data {body!r} is invalid: {exc}")
            return error_page(400)
        except Exception as exc:  # Registry.handle converts errors; this is the last guard
            self.log.critical(f"Handling XML-RPC request with data {body!r} raised: {exc!r}")
            return error_page(500)
        return Response(200, answer, {"Content-Type": "text/xml"})

    def logtail(self, request: Request) -> Response:
        if request.method != "GET":
            return error_page(400)
        rest = request.path.lstrip("/").partition("/")[2]  # after 'logtail/'
        name, _, channel = rest.partition("/")
        channel = channel or "stdout"
        try:
            _, proc = self.sup.find(name)
        except NoSuchProcess:
            return error_page(404)
        if proc is None or channel not in ("stdout", "stderr"):
            return error_page(404)
        path = proc.stdout_logfile if channel == "stdout" else proc.stderr_logfile
        return self._follow(path, {"X-Accel-Buffering": "no"})

    def mainlogtail(self, request: Request) -> Response:
        if request.method != "GET":
            return error_page(400)
        return self._follow(self.sup.mainlog_path, {})

    def _follow(self, path: str | None, extra: dict[str, str]) -> Response:
        # A missing log is a temporary condition (not started yet, or NONE until a reload).
        if path is None or not os.path.exists(path):
            return error_page(404)
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return error_page(404)
        headers = {
            "Content-Type": "text/plain;charset=utf-8",
            "Last-Modified": http_date(mtime),
            **extra,
        }
        return Response(200, headers=headers, stream=_chunks(path))


async def _chunks(path: str) -> AsyncIterator[bytes]:
    lines = follow(path)
    try:
        async for chunk in lines:
            yield chunk
    except LogReadError:
        pass  # the log vanished between stat and open
    finally:
        aclose = getattr(lines, "aclose", None)
        if aclose is not None:
            await aclose()  # closes the file now, even when we are closed mid-stream


# -- lifecycle ----------------------------------------------------------------------------


@dataclass
class HttpServers:
    """The running servers; close() stops them, ends every open connection (log tails
    included) and removes the socket files we made."""

    limits: Limits = field(default_factory=Limits)
    servers: list[asyncio.Server] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    unix_files: list[tuple[str, int]] = field(default_factory=list)  # (path, inode)
    urls: list[str] = field(default_factory=list)
    # every connection's task, owned here: cancelled and awaited by close()
    connections: set[asyncio.Task[None]] = field(default_factory=set)
    closing: bool = False

    async def serve(self, sock: socket.socket, handler: Handler) -> None:
        def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if self.closing:
                writer.transport.abort()
                return
            task = asyncio.ensure_future(
                serve_connection(reader, writer, handler, self.limits, SERVER, error_page)
            )
            self.connections.add(task)
            task.add_done_callback(self.connections.discard)

        if sock.family == socket.AF_UNIX:
            server = await asyncio.start_unix_server(accept, sock=sock, backlog=BACKLOG)
        else:
            server = await asyncio.start_server(accept, sock=sock, backlog=BACKLOG)
        self.servers.append(server)

    async def close(self) -> None:
        self.closing = True
        for server in self.servers:
            server.close()
        tasks = list(self.connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
        self.servers.clear()
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()
        for path, inode in self.unix_files:
            try:
                if os.stat(path).st_ino == inode:  # not a successor's socket
                    os.unlink(path)
            except OSError:
                pass
        self.unix_files.clear()


async def start_servers(
    sup: SupervisorLike,
    config: Config,
    mainlog: LoggerLike,
    *,
    bound: list[Bound] | None = None,
    registry: Registry | None = None,
    ui: UiHandler | None = None,
    limits: Limits | None = None,
) -> HttpServers:
    """Serve every configured HTTP server, on `bound` sockets when the daemon bound them
    early (so it could refuse to start before spawning anything), else binding now."""
    routes = Routes(sup, registry or make_registry(sup, mainlog), mainlog, ui)
    servers = HttpServers(limits or Limits())
    try:
        for b in bound if bound is not None else bind_all(config):
            servers.sockets.append(b.sock)
            if b.unix_file is not None:
                servers.unix_files.append(b.unix_file)
            servers.urls.append(b.url)
        for cfg, sock in zip(_sections(config), servers.sockets, strict=True):
            auth = make_auth(cfg.username, cfg.password)
            handler: Handler = routes.dispatch
            if auth is None:
                mainlog.critical(
                    f"Server '{cfg.section}' running without any HTTP authentication checking"
                )
            else:
                handler = require(auth, routes.dispatch, lambda: error_page(401))
            await servers.serve(sock, handler)
    except BaseException:
        await servers.close()
        raise
    return servers


__all__ = [
    "ANOTHER_PROGRAM",
    "HttpServers",
    "Limits",
    "Request",
    "Response",
    "Routes",
    "ServerError",
    "UiHandler",
    "error_page",
    "start_servers",
]
