"""One HTTP/1.1 connection on asyncio streams, framed by h11; handlers see Request/Response.

h11 parses and frames (including HTTP/1.0, keep-alive, pipelining and chunked bodies);
this module owns the loop around it: reading with an idle timeout, the request body limit,
the answer to malformed input, and streaming responses that end when the client leaves.

    Request         what a handler gets (head now, body on `await read()`)
    Response        what a handler returns: bytes, or an async iterator of chunks
    Handler         Request -> Response
    Limits          body / head sizes and the idle timeout
    serve_connection(reader, writer, handler, limits, server_name)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

import h11

_READ = 64 * 1024
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


class BodyTooLarge(Exception):
    """Raised by Request.read(); the connection answers 413 and closes."""


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
        parts: list[bytes] = []
        size = 0
        while True:
            event = await _next_event(self._conn, self._reader, self._limits.idle_timeout)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._limits.max_body:
                    raise BodyTooLarge
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:  # ConnectionClosed mid-body: h11 raises before this; be safe
                raise h11.RemoteProtocolError("request body incomplete")
        self._body = b"".join(parts)
        return self._body


Handler = Callable[[Request], Awaitable[Response]]


async def _next_event(
    conn: h11.Connection, reader: asyncio.StreamReader, timeout: float
) -> h11.Event | type[h11.PAUSED]:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event  # type: ignore[return-value]
        async with asyncio.timeout(timeout):
            data = await reader.read(_READ)
        conn.receive_data(data)  # b'' is EOF


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
) -> None:
    """Answer requests on one connection until either side closes it or it idles out.

    Cancelling the task running this closes the connection at once (server shutdown).
    """
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=limits.max_head)
    try:
        while True:
            event = await _next_event(conn, reader, limits.idle_timeout)
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed (or PAUSED, which a finished cycle never leaves)
            request = Request(event, conn, reader, writer, limits)
            try:
                response = await handler(request)
            except BodyTooLarge:
                response = error_page(413)
                response.close = True
            except Exception:  # a handler's bug: the client still gets an answer
                response = error_page(500)
                response.close = True
            if not response.close and conn.their_state is h11.SEND_BODY:
                # Drain what the handler did not read, so the next request parses.
                try:
                    await request.read()
                except BodyTooLarge:
                    response.close = True
            await _send(conn, reader, writer, request, response, limits, server_name)
            if response.stream is not None or response.close:
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # MUST_CLOSE: HTTP/1.0 or 'Connection: close'
            conn.start_next_cycle()
    except h11.RemoteProtocolError as exc:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(OSError, h11.LocalProtocolError, TimeoutError):
                response = error_page(exc.error_status_hint)
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
        await _stream(conn, reader, writer, response.stream)
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
) -> None:
    """Send chunks until they end or the client closes its side; the connection is then
    closed, so what the client sends meanwhile is read only to notice it leaving."""

    async def pump() -> None:
        async for chunk in chunks:
            if chunk:
                writer.write(conn.send(h11.Data(data=chunk)) or b"")
                await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()

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
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()  # e.g. the log follower's open file
