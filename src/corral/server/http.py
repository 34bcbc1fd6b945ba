"""corrald's HTTP servers: one per [unix_http_server*] / [inet_http_server*] section.

Each server answers the same routes (checked in 4.3's order, by path prefix):

    /RPC2*          POST: XML-RPC (corral.api); other methods 400
    /logtail/<namespec>[/stdout|/stderr]   GET: the log's last 1 KiB, then follows it
    /mainlogtail    GET: same for the main log
    /ok.html        'OK' (health check)
    /healthz        200 'ok' while the loop serves (liveness); no credentials needed
    /readyz         200 when every process that should run is ready and healthy, else 503;
                    without credentials only `ok` or a count, with them the list and why
    /metrics        GET: Prometheus text (metrics.py); without credentials when the inet
                    section says metrics_public = true
    /api/v1/...     the JSON API and its event stream (jsonapi.py, sse.py)
    /, /index.html, /tail.html, /static/*   the dashboard (web.py)
    anything else   the web UI hook when given, else 404

The JSON API, the event hub and the metrics are imported on their first request: a daemon
nobody asks for them pays nothing.

Servers differ only in their credentials: each wraps the same Routes in its own auth check.
Connections are accepted by corral.server.accept (the connection cap) and served by
corral.server.connection (h11 on asyncio streams); every limit is a field of Limits.

    ServerError     a socket cannot be bound (message worded as supervisord's usage errors)
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral import __version__
from corral.api import LoggerLike, make_registry, rights
from corral.api.dispatch import BadRequest, Registry
from corral.config.model import Config, InetServerConfig
from corral.logs.tail import LogReadError, follow
from corral.runtime.errors import NoSuchProcess
from corral.runtime.overall import overall
from corral.server.accept import Gate, Slot, connection_cap
from corral.server.auth import BasicAuth, Identity, LoginLimiter, make_auth, open_server, require
from corral.server.connection import (
    Handler,
    Limits,
    Request,
    RequestRefused,
    Response,
    http_date,
    serve_connection,
)
from corral.server.sockets import ANOTHER_PROGRAM, Bound, ServerError, bind_all
from corral.server.sockets import sections as _sections

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor as SupervisorLike
    from corral.server.jsonapi import JsonApi
    from corral.server.sse import EventHub
    from corral.server.web import Dashboard

# A web UI plugs in here: return a response, or None to fall through to 404. It runs behind
# the server's auth check; `await request.read()` gives the body, Response(stream=...) streams.
UiHandler = Callable[[Request], Awaitable[Response | None]]


# The same version `corrald -v` prints; importlib.metadata would cost ~2 MiB of RSS.
SERVER = f"corral/{__version__}"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    403: "Forbidden",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# Request bodies in the main log: at most this many bytes of them, then their size.
LOGGED_BODY = 1024


def error_page(status: int, detail: str = "") -> Response:
    """The small HTML error document 4.3 sends with 400/401/404/500 (`detail`: one more
    paragraph, for the errors 4.3 never sends)."""
    reason = _REASONS.get(status, "Error")
    extra = f"<p>{detail}</p>" if detail else ""
    body = (
        "<html><head><title>Error response</title></head><body>"
        f"<h1>Error response</h1><p>Error code {status}.</p><p>Message: {reason}.</p>{extra}"
        "</body></html>\n"
    )
    return Response(status, body.encode(), {"Content-Type": "text/html"})


def _too_many_connections() -> bytes:
    """Sent unasked to a connection refused at the cap, before it could send a request."""
    page = error_page(503, "Too many connections are busy; try again later.")
    head = (
        f"HTTP/1.1 503 Service Unavailable\r\nServer: {SERVER}\r\nDate: {http_date()}\r\n"
        f"Content-Type: text/html\r\nContent-Length: {len(page.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + page.body


def excerpt(body: bytes) -> str:
    """A request body as the log shows it: repr() of its first LOGGED_BODY bytes."""
    if len(body) <= LOGGED_BODY:
        return repr(body)
    return f"{body[:LOGGED_BODY]!r}... ({len(body)} bytes)"


class Routes:
    """The handlers, shared by every server of one daemon."""

    def __init__(
        self,
        sup: SupervisorLike,
        registry: Registry,
        log: LoggerLike,
        ui: UiHandler | None,
        max_followers: int = Limits.max_followers,
    ) -> None:
        self.sup = sup
        self.registry = registry
        self.log = log
        self.ui = ui
        self.max_followers = max_followers
        self.followers = 0  # open log tail streams, on every server of the daemon
        self._api: JsonApi | None = None
        self._hub: EventHub | None = None
        self._dashboard: Dashboard | None = None
        # asked of every POST a browser sends to /api/v1: only our own page knows it
        # (os.urandom, not secrets: that imports hmac, which maps libcrypto, ~3.7 MiB)
        self.token = base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")

    def dashboard(self, request: Request) -> Response | None:
        if self._dashboard is None:
            from corral.server.web import Dashboard

            self._dashboard = Dashboard(self.token)
        return self._dashboard.serve(request, rights.current().rights)

    @property
    def hub(self) -> EventHub:
        if self._hub is None:
            from corral.runtime.stats import CpuSampler
            from corral.server.sse import EventHub

            self._hub = EventHub(
                self.sup.events,
                CpuSampler(self.sup).sample,
                self._log_paths,
                self.sup.health_watchers,
            )
        return self._hub

    def _log_paths(self, name: str) -> list[tuple[str, str]]:
        try:
            _, proc = self.sup.find(name)
        except NoSuchProcess:
            return []
        if proc is None:
            return []
        paths = [("stdout", proc.stdout_logfile), ("stderr", proc.stderr_logfile)]
        return [(ch, path) for ch, path in paths if path]

    def close(self) -> None:
        if self._hub is not None:
            self._hub.close()

    async def api(self, request: Request) -> Response:
        if self._api is None:
            from corral.server.jsonapi import JsonApi

            self._api = JsonApi(self.registry, self.hub, self.token, self.sup)
        return await self._api.handle(request)

    def metrics(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return error_page(400)
        from corral.server.metrics import CONTENT_TYPE, render

        return Response(200, render(self.sup, self.registry), {"Content-Type": CONTENT_TYPE})

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
        if path == "/metrics":
            return self.metrics(request)
        if path == "/api/v1" or path.startswith("/api/v1/"):
            return await self.api(request)
        if path in ("/", "/index.html", "/tail.html") or path.startswith("/static/"):
            page = self.dashboard(request)
            if page is not None:
                return page
        if self.ui is not None:
            try:
                response = await self.ui(request)
            except RequestRefused:
                raise  # the connection answers 413 or 408
            except Exception as exc:
                self.log.critical(f"Handling {request.method} {request.target} raised: {exc!r}")
                return error_page(500)
            if response is not None:
                return response
        return error_page(404)

    def probe(self, request: Request, *, authorized: bool) -> Response:
        """/healthz and /readyz, for orchestrators (Kubernetes probes, load balancers)."""
        if request.method not in ("GET", "HEAD"):
            return error_page(400)
        headers = {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"}
        if request.path == "/healthz":
            return Response(200, b"ok\n", headers)
        report = overall(self.sup)
        lines = [report.summary()]
        if authorized:
            lines += [f"{p.name} {p.state}: {p.reason}" for p in report.problems]
        body = ("\n".join(lines) + "\n").encode("utf-8", "replace")
        return Response(200 if report.ok else 503, body, headers)

    async def rpc(self, request: Request) -> Response:
        if request.method != "POST":
            return error_page(400)
        body = await request.read()
        try:
            answer = await self.registry.handle(body)
        except BadRequest as exc:
            self.log.error(f"XML-RPC request data {excerpt(body)} is invalid: {exc}")
            return error_page(400)
        except Exception as exc:  # Registry.handle converts errors; this is the last guard
            self.log.critical(f"Handling XML-RPC request with data {excerpt(body)} raised: {exc!r}")
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
        if self.followers >= self.max_followers:
            detail = (
                f"Too many log tails are open ({self.max_followers}, the limit); "
                "close one or try again later."
            )
            return error_page(503, detail)
        headers = {
            "Content-Type": "text/plain;charset=utf-8",
            "Last-Modified": http_date(mtime),
            **extra,
        }
        return Response(200, headers=headers, stream=_Follower(self, path))


class _Follower:
    """A log tail stream, counted in Routes.followers from now until aclose() (which the
    connection calls however the stream ends, even if it never started)."""

    def __init__(self, routes: Routes, path: str) -> None:
        self._routes = routes
        self._lines = follow(path)
        self._open = True
        routes.followers += 1

    def __aiter__(self) -> _Follower:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await anext(self._lines)
        except LogReadError:
            raise StopAsyncIteration from None  # the log vanished between stat and open

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._routes.followers -= 1
            await self._lines.aclose()  # type: ignore[attr-defined]  # closes the file now


PROBE_PATHS = frozenset({"/healthz", "/readyz"})


def _with_probes(
    routes: Routes, auth: BasicAuth | None, handler: Handler, *, public_metrics: bool = False
) -> Handler:
    """The probe routes answer before the auth check (an orchestrator has no password);
    credentials, when given and right, only add detail. So does /metrics when the section
    makes it public."""

    async def serve(request: Request) -> Response:
        if request.path in PROBE_PATHS:
            authorized = auth is None or auth.check(request.headers.get("authorization"))
            return routes.probe(request, authorized=authorized)
        if public_metrics and request.path == "/metrics":
            return routes.metrics(request)
        return await handler(request)

    return serve


_LOOPBACK = ("127.", "::1", "::ffff:127.")


def _protected(cfg: InetServerConfig) -> bool:
    """No credentials, on an address others can reach, and no insecure_no_auth."""
    if cfg.insecure_no_auth:
        return False
    return not (cfg.host.startswith(_LOOPBACK) or cfg.host == "localhost")


PROTECTED_TEXT = (
    "corrald serves this address without credentials, so it answers only clients on this "
    "host (protected mode).\nTo serve others, set username and password in the "
    "[inet_http_server] section (or [user:NAME] sections), or, knowing that anyone who "
    "reaches the port can then run commands as corrald's user, insecure_no_auth = true.\n"
)


def loopback_only(handler: Handler) -> Handler:
    async def serve(request: Request) -> Response:
        if request.peer.startswith(_LOOPBACK):
            return await handler(request)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        return Response(403, PROTECTED_TEXT.encode(), headers, close=True)

    return serve


class AuditFile:
    """[supervisord] audit_logfile: one line per audited call, appended (O_APPEND: safe
    beside logrotate's copytruncate), with an RFC 3339 time."""

    def __init__(self, path: str, log: LoggerLike) -> None:
        self.path = path
        self._log = log
        self._failing = False

    def __call__(self, caller: rights.Caller, method: str, args: str, result: str) -> None:
        from corral.logs.stamp import rfc3339

        who = f"user={caller.user} source={caller.source or '-'}"
        line = f"{rfc3339()} {who} {method}({args}) {result}\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8", "replace"))
            finally:
                os.close(fd)
            self._failing = False
        except OSError as e:
            if not self._failing:  # once per episode
                self._log.error(f"cannot write the audit log {self.path}: {e.strerror}")
            self._failing = True


def server_tls(cfg: InetServerConfig) -> Any:
    """The HTTPS context of an [inet_http_server]: TLS 1.2 or newer, its certificate; with
    cafile, client certificates signed by those CAs are required (mTLS)."""
    import ssl

    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        assert cfg.certfile is not None
        ctx.load_cert_chain(cfg.certfile, cfg.keyfile)
        if cfg.cafile:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cfg.cafile)
    except (ssl.SSLError, OSError) as e:
        raise ServerError(f"[{cfg.section}]: cannot serve HTTPS with {cfg.certfile}: {e}") from None
    return ctx


# -- lifecycle ----------------------------------------------------------------------------


@dataclass
class HttpServers:
    """The running servers; close() stops them, ends every open connection (log tails
    included) and removes the socket files we made."""

    gate: Gate
    limits: Limits = field(default_factory=Limits)
    sockets: list[socket.socket] = field(default_factory=list)
    unix_files: list[tuple[str, int]] = field(default_factory=list)  # (path, inode)
    urls: list[str] = field(default_factory=list)
    routes: Routes | None = None  # its event streams end first

    @property
    def connections(self) -> set[asyncio.Task[None]]:
        """Every connection's task, owned by the gate: cancelled and awaited by close()."""
        return self.gate.tasks

    def serve(self, sock: socket.socket, handler: Handler, tls: Any = None) -> None:
        limits = self.limits

        def serve_one(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
        ) -> Awaitable[None]:
            return serve_connection(reader, writer, handler, limits, SERVER, error_page, slot)

        self.gate.listen(sock, serve_one, tls)

    async def close(self) -> None:
        if self.routes is not None:
            self.routes.close()
        await self.gate.close()
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
    limits = limits or Limits()
    registry = registry or make_registry(sup, mainlog)
    if config.supervisord.audit_logfile and registry.audit is None:
        registry.audit = AuditFile(config.supervisord.audit_logfile, mainlog)
    routes = Routes(sup, registry, mainlog, ui, limits.max_followers)
    gate = Gate(connection_cap(limits), mainlog, _too_many_connections)
    servers = HttpServers(gate, limits, routes=routes)
    try:
        for b in bound if bound is not None else bind_all(config):
            servers.sockets.append(b.sock)
            if b.unix_file is not None:
                servers.unix_files.append(b.unix_file)
            servers.urls.append(b.url)
        users = [Identity(u.name, u.password, u.rights, u.programs) for u in config.users]
        limiter = LoginLimiter(mainlog.warn)
        for cfg, sock in zip(_sections(config), servers.sockets, strict=True):
            auth = make_auth(cfg.username, cfg.password, users)
            handler: Handler = routes.dispatch
            if auth is None:
                mainlog.critical(
                    f"Server '{cfg.section}' running without any HTTP authentication checking"
                )
                handler = open_server(handler)
                if isinstance(cfg, InetServerConfig) and _protected(cfg):
                    mainlog.warn(
                        f"Server '{cfg.section}' serves only loopback clients (protected mode): "
                        "set credentials, or insecure_no_auth = true"
                    )
                    handler = loopback_only(handler)
            else:
                handler = require(auth, routes.dispatch, lambda: error_page(401), limiter)
            public = isinstance(cfg, InetServerConfig) and cfg.metrics_public
            tls = server_tls(cfg) if isinstance(cfg, InetServerConfig) and cfg.certfile else None
            servers.serve(sock, _with_probes(routes, auth, handler, public_metrics=public), tls)
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
