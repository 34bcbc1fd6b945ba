"""The HTTP/1.x connection handling (h11 on asyncio) over real unix sockets: keep-alive,
HTTP/1.0, body and head limits, malformed input, the idle timeout, 401s on the wire, and
streams that end when the client or the server goes away."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
import xmlrpc.client
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path

import h11

from corral import __version__
from corral.server.connection import Limits, http_date
from corral.server.http import HttpServers, start_servers
from tests.unit.api.standin import Logger, StandInSupervisor, config, gconfig, pconfig
from tests.unit.server.test_server_http import unix_cfg

Body = Callable[[HttpServers, str], Awaitable[None]]
OK_KEEP_ALIVE = b"GET /ok.html HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"Connection: close\r\n\r\n"
RPC = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode()


def run(
    tmp: Path,
    body: Body,
    *,
    limits: Limits | None = None,
    log_file: Path | None = None,
    **auth: str,
) -> None:
    path = str(tmp / "corral.sock")
    cfg = config(str(tmp), (gconfig("app", pconfig("app")),), unix=(unix_cfg(path, **auth),))
    sup = StandInSupervisor(cfg)
    if log_file is not None:
        _, app = sup.find("app")
        assert app is not None
        app.stdout_logfile = str(log_file)

    async def main() -> None:
        servers = await start_servers(sup, cfg, Logger(), limits=limits)
        try:
            await body(servers, path)
        finally:
            await servers.close()
        # every connection task was owned and is gone; nothing else was left running
        assert not servers.connections
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 5) -> bytes:
    data = b""
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            data += chunk
    return data


def open_files() -> list[str]:
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own fd is gone by now
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
    return paths


def parse(data: bytes, method: bytes = b"GET") -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """The responses in `data`, parsed by h11 as a client would."""
    client = h11.Connection(h11.CLIENT)
    out: list[tuple[int, dict[bytes, bytes], bytes]] = []
    client.receive_data(data)
    client.receive_data(b"")
    while True:
        client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        head = client.next_event()
        if isinstance(head, h11.ConnectionClosed):
            return out
        assert isinstance(head, h11.Response), head
        body = b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            body += event.data
        out.append((head.status_code, dict(head.headers), body))
        if client.our_state is h11.MUST_CLOSE:
            return out
        client.start_next_cycle()
        if not client.trailing_data[0]:
            return out  # nothing after this response but the end of the connection


def post(target: str, body: bytes, *extra: str) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_keep_alive_serves_two_requests_on_one_connection(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", RPC))
        first = await reader.readuntil(b"</methodResponse>\n")
        writer.write(b"GET /ok.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got.append(first + await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    responses = parse(got[0])
    assert [(status, body[-18:]) for status, _, body in responses] == [
        (200, b"</methodResponse>\n"),
        (200, b"OK"),
    ]
    first, second = (headers for _, headers, _ in responses)
    assert b"connection" not in first and first[b"server"] == f"corral/{__version__}".encode()
    assert second[b"connection"] == b"close"


def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(
            b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
            + post("/RPC2", RPC)
            + b"GET /ok.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    assert [status for status, _, _ in parse(got[0])] == [404, 200, 200]


def test_an_absolute_form_target_routes_by_its_path(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(
            b"GET http://localhost/ok.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    assert [(status, text) for status, _, text in parse(got[0])] == [(200, b"OK")]


def test_http_1_0_gets_an_answer_and_the_connection_closes(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET /ok.html HTTP/1.0\r\n\r\n")
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    assert got[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert got[0].endswith(b"\r\n\r\nOK")
    assert b"Content-Length: 2\r\n" in got[0]


def test_head_request_has_headers_and_no_body(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"HEAD /ok.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    assert got[0].startswith(b"HTTP/1.1 200 OK\r\n") and got[0].endswith(b"\r\n\r\n")


def test_a_body_over_16_mib_is_refused_with_413_before_it_is_sent(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        # only the head: the server must answer without waiting for 16 MiB
        writer.write(
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (16 * 2**20 + 1)
        )
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body)
    [(status, headers, text)] = parse(got[0], b"POST")
    assert status == 413 and headers[b"connection"] == b"close"
    assert b"Error code 413" in text


def test_a_chunked_body_over_the_limit_is_refused_with_413(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        chunk = b"x" * 600
        writer.write(
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2
        )
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body, limits=Limits(max_body=1000))
    assert [status for status, _, _ in parse(got[0], b"POST")] == [413]


def test_a_body_at_the_limit_is_read(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        padded = RPC.replace(b"<methodCall>", b"<methodCall>" + b" " * (2000 - len(RPC)))
        assert len(padded) == 2000
        writer.write(post("/RPC2", padded, "Connection: close"))
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body, limits=Limits(max_body=2000))
    [(status, _, text)] = parse(got[0], b"POST")
    assert status == 200 and b"<string>3.0</string>" in text


def test_expect_100_continue_is_answered_before_the_body(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def expect(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        head = (
            b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n" % len(RPC)
        )
        writer.write(head)
        got.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5))
        writer.write(RPC)
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, expect)
    assert got[0] == b"HTTP/1.1 100 \r\n\r\n"
    assert got[1].startswith(b"HTTP/1.1 200 OK\r\n") and b"<string>3.0</string>" in got[1]


def test_garbage_gets_400_and_the_connection_closes(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        for junk in (
            b"\x00\x01\x02 not http at all\r\n\r\n",
            b"GET /ok.html HTTP/1.1\r\n\r\n",  # 1.1 without Host
            b"GET /ok.html HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        ):
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(junk)
            got.append(await read_to_eof(reader))
            writer.close()

    run(tmp_path, body)
    for data in got:
        [(status, headers, text)] = parse(data)
        assert status == 400 and headers[b"connection"] == b"close"
        assert b"Error code 400" in text


def test_an_oversized_head_gets_431(tmp_path: Path) -> None:
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        # h11 bounds what it buffers unparsed: a head still incomplete past the limit
        writer.write(b"GET /ok.html HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000)
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body, limits=Limits(max_head=4096))
    assert [status for status, _, _ in parse(got[0])] == [431]


def test_a_silent_client_is_dropped_after_the_idle_timeout(tmp_path: Path) -> None:
    got: list[tuple[bytes, float]] = []

    async def body(servers: HttpServers, path: str) -> None:
        # silent from the start, mid-request, and between two keep-alive requests
        for first in (
            b"",
            b"GET /ok.html HTTP/1.1\r\n",
            b"GET /ok.html HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            reader, writer = await asyncio.open_unix_connection(path)
            writer.write(first)
            start = time.monotonic()
            got.append((await read_to_eof(reader), time.monotonic() - start))
            writer.close()

    run(tmp_path, body, limits=Limits(idle_timeout=0.2))
    assert [data for data, _ in got[:2]] == [b"", b""]
    assert [status for status, _, _ in parse(got[2][0])] == [200]
    assert all(0.15 < took < 3 for _, took in got)


def test_auth_failures_are_401_on_the_wire_and_close_the_connection(tmp_path: Path) -> None:
    got: list[bytes] = []
    good = base64.b64encode(b"user:pw").decode()
    wrong = base64.b64encode(b"user:nope").decode()
    no_colon = base64.b64encode(b"userpw").decode()

    async def body(servers: HttpServers, path: str) -> None:
        for auth in (None, f"Basic {wrong}", f"Basic {no_colon}", "Basic %%%", f"Bearer {good}"):
            reader, writer = await asyncio.open_unix_connection(path)
            extra = [f"Authorization: {auth}"] if auth else []
            # a body is announced but never sent: a refusal must not wait for it
            head = post("/RPC2", b"", *extra).replace(b"Content-Length: 0", b"Content-Length: 99")
            writer.write(head)
            got.append(await read_to_eof(reader))
            writer.close()
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", RPC, f"Authorization: Basic {good}", "Connection: close"))
        got.append(await read_to_eof(reader))
        writer.close()

    run(tmp_path, body, username="user", password="pw")
    *refused, accepted = got
    for data in refused:
        [(status, headers, text)] = parse(data, b"POST")
        assert status == 401
        assert headers[b"www-authenticate"] == b'Basic realm="default"'
        assert headers[b"content-type"] == b"text/html" and headers[b"connection"] == b"close"
        assert b"Error code 401." in text
    [(status, _, text)] = parse(accepted, b"POST")
    assert status == 200 and b"<string>3.0</string>" in text


def test_a_log_tail_stream_ends_when_the_server_closes(tmp_path: Path) -> None:
    log_file = tmp_path / "app.out"
    log_file.write_bytes(b"first\n")
    got: list[object] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET /logtail/app HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"first" not in data:
            data += await asyncio.wait_for(reader.read(4096), 5)
        with log_file.open("ab") as f:
            f.write(b"second\n")
        while b"second" not in data:
            data += await asyncio.wait_for(reader.read(4096), 5)
        assert len(servers.connections) == 1
        start = time.monotonic()
        await servers.close()
        got.append(time.monotonic() - start)
        got.append(await read_to_eof(reader))  # the stream is cut, not left hanging
        writer.close()
        got.append(str(log_file) in open_files())

    run(tmp_path, body, log_file=log_file)
    took, rest, log_still_open = got
    assert isinstance(took, float) and took < 1.0
    assert log_still_open is False  # the follower's file was closed with the stream
    assert rest == b""  # aborted: no chunk terminator was promised


def test_a_log_tail_stream_ends_when_the_client_leaves(tmp_path: Path) -> None:
    log_file = tmp_path / "app.out"
    log_file.write_bytes(b"line\n")
    left: list[int] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        # HTTP/1.0 gets a close-delimited stream; supervisorctl sends a stray CRLF after
        # its head, which must not disturb the stream
        writer.write(b"GET /logtail/app/stdout HTTP/1.0\r\n\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
        assert await asyncio.wait_for(reader.readuntil(b"line\n"), 5)
        [task] = servers.connections
        writer.close()
        await writer.wait_closed()
        done, _ = await asyncio.wait({task}, timeout=5)
        left.append(len(done))

    run(tmp_path, body, log_file=log_file)
    assert left == [1]


def test_http_dates_are_imf_fixdate() -> None:
    for ts in (0.0, 951782400.5, 1767225599.0, time.time()):
        assert http_date(ts) == formatdate(ts, usegmt=True)
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
