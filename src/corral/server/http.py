"""corrald's HTTP servers: one per [unix_http_server*] / [inet_http_server*] section.

Each server answers the same routes (checked in 4.3's order, by path prefix):

    /RPC2*          POST: XML-RPC (corral.api); other methods 400
    /logtail/<namespec>[/stdout|/stderr]   GET: the log's last 1 KiB, then follows it
    /mainlogtail    GET: same for the main log
    /ok.html        'OK' (health check)
    anything else   the web UI hook when given, else 404

Servers differ only in their credentials, so each gets its own aiohttp Application
(with its own auth middleware) over the same handlers.

    ServerError     a socket cannot be bound (message worded as supervisord's usage errors)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from aiohttp import web

from corral.api import LoggerLike, make_registry
from corral.api.dispatch import BadRequest, Registry
from corral.config.model import Config
from corral.logs.tail import LogReadError, follow
from corral.runtime.errors import NoSuchProcess
from corral.server.auth import BasicAuth, auth_middleware, make_auth
from corral.server.sockets import ANOTHER_PROGRAM, Bound, ServerError, bind_all
from corral.server.sockets import sections as _sections

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor as SupervisorLike

# A web UI plugs in here: return a response, or None to fall through to 404.
UiHandler = Callable[[web.Request], Awaitable[web.StreamResponse | None]]


def _server_header() -> str:
    try:
        return f"corral/{version('corral')}"
    except PackageNotFoundError:  # running from a source tree
        return "corral"


SERVER = _server_header()

_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}


def error_page(status: int) -> web.Response:
    """The small HTML error document 4.3 sends with 400/401/404/500."""
    reason = _REASONS.get(status, "Error")
    body = (
        "<html><head><title>Error response</title></head><body>"
        f"<h1>Error response</h1><p>Error code {status}.</p><p>Message: {reason}.</p>"
        "</body></html>\n"
    )
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": "text/html"})


class Routes:
    """The handlers, shared by every server of one daemon."""

    def __init__(
        self, sup: SupervisorLike, registry: Registry, log: LoggerLike, ui: UiHandler | None
    ) -> None:
        self.sup = sup
        self.registry = registry
        self.log = log
        self.ui = ui

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/RPC2"):
            return await self.rpc(request)
        if path.startswith("/logtail"):
            return await self.logtail(request)
        if path.startswith("/mainlogtail"):
            return await self.mainlogtail(request)
        if path == "/ok.html":
            return web.Response(body=b"OK", headers={"Content-Type": "text/plain"})
        if self.ui is not None:
            response = await self.ui(request)
            if response is not None:
                return response
        return error_page(404)

    async def rpc(self, request: web.Request) -> web.StreamResponse:
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
        return web.Response(body=answer, headers={"Content-Type": "text/xml"})

    async def logtail(self, request: web.Request) -> web.StreamResponse:
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
        return await self._follow(request, path, {"X-Accel-Buffering": "no"})

    async def mainlogtail(self, request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return error_page(400)
        return await self._follow(request, self.sup.mainlog_path, {})

    async def _follow(
        self, request: web.Request, path: str | None, extra: dict[str, str]
    ) -> web.StreamResponse:
        # A missing log is a temporary condition (not started yet, or NONE until a reload).
        if path is None or not os.path.exists(path):
            return error_page(404)
        response = web.StreamResponse(headers={"Content-Type": "text/plain;charset=utf-8", **extra})
        response.last_modified = os.stat(path).st_mtime
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in follow(path):
                await response.write(chunk)
        except (ConnectionError, LogReadError):
            pass  # the reader went away, or the log vanished between stat and open
        return response


async def _set_server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER


def make_app(routes: Routes, auth: BasicAuth | None) -> web.Application:
    middlewares = [auth_middleware(auth, lambda: error_page(401))] if auth else []
    app = web.Application(middlewares=middlewares, client_max_size=16 * 1024 * 1024)
    app.router.add_route("*", "/{path:.*}", routes.dispatch)
    app.on_response_prepare.append(_set_server_header)
    return app


# -- sockets ------------------------------------------------------------------------------


# -- lifecycle ----------------------------------------------------------------------------


@dataclass
class HttpServers:
    """The running servers; close() stops them and removes the socket files we made."""

    runners: list[web.AppRunner] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    unix_files: list[tuple[str, int]] = field(default_factory=list)  # (path, inode)
    urls: list[str] = field(default_factory=list)

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
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
) -> HttpServers:
    """Serve every configured HTTP server, on `bound` sockets when the daemon bound them
    early (so it could refuse to start before spawning anything), else binding now."""
    routes = Routes(sup, registry or make_registry(sup, mainlog), mainlog, ui)
    servers = HttpServers()
    try:
        for b in bound if bound is not None else bind_all(config):
            servers.sockets.append(b.sock)
            if b.unix_file is not None:
                servers.unix_files.append(b.unix_file)
            servers.urls.append(b.url)
        for cfg, sock in zip(_sections(config), servers.sockets, strict=True):
            auth = make_auth(cfg.username, cfg.password)
            if auth is None:
                mainlog.critical(
                    f"Server '{cfg.section}' running without any HTTP authentication checking"
                )
            await _serve(servers, make_app(routes, auth), sock)
    except BaseException:
        await servers.close()
        raise
    return servers


async def _serve(servers: HttpServers, app: web.Application, sock: socket.socket) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    servers.runners.append(runner)
    site = web.SockSite(runner, sock, backlog=1024)
    await site.start()


__all__ = [
    "ANOTHER_PROGRAM",
    "HttpServers",
    "Routes",
    "ServerError",
    "UiHandler",
    "error_page",
    "start_servers",
]
