"""One HTTP/1.1 connection on asyncio streams, framed by h11; handlers see Request/Response.

h11 parses and frames (including HTTP/1.0, keep-alive, pipelining and chunked bodies);
this module owns the loop around it: the time a client gets for each part of a request
(idle timeout, head deadline, body deadline with a minimum rate), the size limits, the answer
to malformed input, and streaming responses that end when the client leaves.

    Request         what a handler gets (head now, body on `await read()`)
    Response        what a handler returns: bytes, or an async iterator of chunks
    Handler         Request -> Response
    Limits          every limit of the HTTP layer, in one place (sizes, times, counts)
    Phase           how a connection tells its owner whether it may be closed to make room
    serve_connection(reader, writer, handler, limits, server_name, error_page, phase)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote, urlsplit

import h11

_READ = 64 * 1024
# After refusing a request whose body is still coming: how long, and how much of it, to read
# before closing (Apache's and nginx's "lingering close").
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(timestamp: float | None = None) -> str:
    """RFC 9110's IMF-fixdate, without email.utils (which costs ~0.6 MiB to import)."""
    t = time.gmtime(timestamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


@dataclass(frozen=True)
class Limits:
    max_body: int = 16 * 1024 * 1024  # larger request bodies get 413
    max_head: int = 64 * 1024  # request line + headers; larger gets 431
    # Seconds a client may stay silent between requests or inside one before it is dropped.
    idle_timeout: float = 60.0
    # Seconds from the first byte of a request to the end of its head, however the bytes
    # trickle in (a slowloris client sending a byte a minute gets 408 and is closed).
    head_timeout: float = 10.0
    # A body must arrive within body_timeout seconds plus one second per body_min_rate
    # bytes received (Apache's mod_reqtimeout rule): 16 MiB may take 10 s + 17 min.
    body_timeout: float = 10.0
    body_min_rate: int = 16 * 1024
    # Open connections per daemon (None: derived from RLIMIT_NOFILE, see server.accept).
    # At the cap, the connection waiting longest for a request (keep-alive idle, or its head
    # still coming in) is closed to make room; with none, the new one gets 503.
    max_connections: int | None = None
    max_followers: int = 64  # concurrent /logtail and /mainlogtail streams; more get 503


class RequestRefused(Exception):
    """Raised by Request.read(); the connection answers `status` and closes."""

    status = 400


class BodyTooLarge(RequestRefused):
    status = 413


class RequestTimeout(RequestRefused):
    """The body did not arrive in time (idle timeout or body deadline)."""

    status = 408


class Phase(Protocol):
    """What serve_connection reports to the owner of its connection."""

    def awaiting(self) -> None:
        """Between requests or inside a head: the connection may be closed to make room."""

    def busy(self) -> None:
        """A request is being read, handled or answered: leave the connection alone."""


class _NoPhase:
    def awaiting(self) -> None:
        pass

    def busy(self) -> None:
        pass


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # When set, the body is these chunks (chunked to HTTP/1.1 clients, else close-delimited),
    # sent until the iterator ends, the client goes away or the server closes.
    stream: AsyncIterator[bytes] | None = None
    close: bool = False  # close the connection after this response


class Request:
    """A request head; the body is read on demand so a refused request costs no upload."""

    def __init__(
        self,
        event: h11.Request,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
    ) -> None:
        self.method = event.method.decode("ascii")
        self.target = event.target.decode("ascii", "replace")
        if self.target.startswith("/"):
            raw_path, _, self.query = self.target.partition("?")
        else:  # absolute-form (a proxy's), '*' or junk: only the path part routes
            parts = urlsplit(self.target)
            raw_path, self.query = parts.path, parts.query
        self.path = unquote(raw_path)
        self.http_version = event.http_version.decode("ascii")
        # lower-case names; repeated headers joined as RFC 9110 allows
        self.headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._limits = limits
        self._body: bytes | None = None

    @property
    def peer(self) -> str:
        """Where the request comes from: the client's address, or 'unix'."""
        peer = self._writer.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            return str(peer[0])
        return "unix"

    async def read(self) -> bytes:
        """The whole body (at most Limits.max_body bytes, else BodyTooLarge)."""
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limits.max_body:
            raise BodyTooLarge
        if self._conn.they_are_waiting_for_100_continue:
            self._writer.write(
                self._conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
            )
        limits = self._limits
        parts: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        start = loop.time() + limits.body_timeout
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA:
                deadline = start + size / limits.body_min_rate
                try:
                    async with asyncio.timeout_at(min(deadline, loop.time() + limits.idle_timeout)):
                        data = await self._reader.read(_READ)
                except TimeoutError:
                    raise RequestTimeout from None
                self._conn.receive_data(data)  # b'' is EOF
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > limits.max_body:
                    raise BodyTooLarge
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # ConnectionClosed mid-body: h11 raises before this; be safe
                raise h11.RemoteProtocolError("request body incomplete")
        self._body = b"".join(parts)
        return self._body


Handler = Callable[[Request], Awaitable[Response]]


class _HeadTimeout(Exception):
    """The head did not arrive within Limits.head_timeout of its first byte."""


async def _next_request(
    conn: h11.Connection, reader: asyncio.StreamReader, limits: Limits
) -> h11.Event | type[h11.PAUSED]:
    """The next request head. Silence is allowed for idle_timeout (then TimeoutError), and
    once the head's first byte is in, the rest must follow within head_timeout, however it
    trickles in (then _HeadTimeout)."""
    loop = asyncio.get_running_loop()
    # pipelined bytes already in hand start the clock at once
    deadline = loop.time() + limits.head_timeout if conn.trailing_data[0] else None
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        idle_end = loop.time() + limits.idle_timeout
        if deadline is None or idle_end < deadline:
            async with asyncio.timeout_at(idle_end):
                data = await reader.read(_READ)
        else:
            try:
                async with asyncio.timeout_at(deadline):
                    data = await reader.read(_READ)
            except TimeoutError:
                raise _HeadTimeout from None
        if deadline is None:
            deadline = loop.time() + limits.head_timeout
        conn.receive_data(data)  # b'' is EOF


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After an answer that ends the connection before its request body was read (401,
    413): stop sending, then drop what the client still sends for a moment. Closing at
    once would fail the client's write of its body and, on TCP, reset the connection,
    taking our answer with it."""
    with contextlib.suppress(OSError, TimeoutError):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_SECONDS):
            received = 0
            while received < LINGER_BYTES and (data := await reader.read(_READ)):
                received += len(data)


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handler: Handler,
    limits: Limits,
    server_name: str,
    error_page: Callable[[int], Response],
    phase: Phase | None = None,
) -> None:
    """Answer requests on one connection until either side closes it or it idles out.

    Cancelling the task running this closes the connection at once (server shutdown, or
    the owner making room while `phase` says the connection is awaiting a request).
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head)
    phase = phase or _NoPhase()
    try:
        while True:
            phase.awaiting()
            event = await _next_request(conn, reader, limits)
            phase.busy()
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed (or PAUSED, which a finished cycle never leaves)
            request = Request(event, conn, reader, writer, limits)
            try:
                response = await handler(request)
            except RequestRefused as exc:
                response = error_page(exc.status)
                response.close = True
            except Exception:  # a handler's bug: the client still gets an answer
                response = error_page(500)
                response.close = True
            if not response.close and conn.their_state is h11.SEND_BODY:
                # Drain what the handler did not read, so the next request parses.
                try:
                    await request.read()
                except RequestRefused:
                    response.close = True
            try:
                await _send(conn, reader, writer, request, response, limits, server_name)
            finally:
                if response.stream is not None:
                    await _aclose(response.stream)  # even if it never started
            if response.close and conn.their_state is h11.SEND_BODY and response.status != 408:
                phase.awaiting()  # only draining now: fine to close at once to make room
                await _linger(reader, writer)
            if response.stream is not None or response.close:
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # MUST_CLOSE: HTTP/1.0 or 'Connection: close'
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, _HeadTimeout) as exc:
        phase.busy()
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            status = 408 if isinstance(exc, _HeadTimeout) else exc.error_status_hint
            with contextlib.suppress(OSError, h11.LocalProtocolError, TimeoutError):
                response = error_page(status)
                response.close = True
                await _send(conn, reader, writer, None, response, limits, server_name)
    except (OSError, TimeoutError, h11.LocalProtocolError):
        pass  # the client went away, idled out, or broke the exchange mid-response
    except asyncio.CancelledError:
        writer.transport.abort()  # shutting down: do not wait for a slow reader
        raise
    finally:
        writer.close()


async def _send(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: Request | None,
    response: Response,
    limits: Limits,
    server_name: str,
) -> None:
    headers = [("Server", server_name), ("Date", http_date())]
    headers.extend(response.headers.items())
    if response.stream is None:
        headers.append(("Content-Length", str(len(response.body))))
    if response.close:
        headers.append(("Connection", "close"))
    head = h11.Response(
        status_code=response.status, headers=headers, reason=_reason(response.status)
    )
    writer.write(conn.send(head) or b"")
    if response.stream is not None:
        await _stream(conn, reader, writer, response.stream, limits.idle_timeout)
        return
    if response.body and not (request is not None and request.method == "HEAD"):
        writer.write(conn.send(h11.Data(data=response.body)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    async with asyncio.timeout(limits.idle_timeout):
        await writer.drain()


async def _stream(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    chunks: AsyncIterator[bytes],
    timeout: float,
) -> None:
    """Send chunks until they end or the client closes its side; the connection is then
    closed, so what the client sends meanwhile is read only to notice it leaving. A client
    that reads nothing for `timeout` seconds while chunks wait is dropped."""

    async def drain() -> None:
        async with asyncio.timeout(timeout):
            await writer.drain()

    async def pump() -> None:
        async for chunk in chunks:
            if chunk:
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await drain()

    async def until_eof() -> None:
        while await reader.read(_READ):
            pass

    sending = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(until_eof())
    try:
        await asyncio.wait((sending, watching), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        await asyncio.gather(sending, watching, return_exceptions=True)
        await _aclose(chunks)  # e.g. the log follower's open file


async def _aclose(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
