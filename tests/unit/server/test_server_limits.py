"""The HTTP layer's limits, on a real server over a temp unix socket: the head and body
deadlines (a slowloris client is closed while others are served), the connection cap (the
longest idle connection makes room; 503 when every one is busy), accept() out of fds (a
back-off, not a busy loop), the log follower cap, lingering after a refusal, and request
bodies cut short in the log."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import time
import xmlrpc.client
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from corral.server.connection import Limits
from corral.server.http import LOGGED_BODY, HttpServers, start_servers
from tests.unit.api.standin import Logger, StandInSupervisor, config, gconfig, pconfig
from tests.unit.server.test_server_connection import parse, post, read_to_eof
from tests.unit.server.test_server_http import unix_cfg

Body = Callable[[HttpServers, str], Awaitable[None]]
OK = b"GET /ok.html HTTP/1.1\r\nHost: x\r\n\r\n"
RPC = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode()


def run(
    tmp: Path,
    body: Body,
    limits: Limits,
    log_file: Path | None = None,
    log: Logger | None = None,
    **auth: str,
) -> Logger:
    path = str(tmp / "corral.sock")
    cfg = config(str(tmp), (gconfig("app", pconfig("app")),), unix=(unix_cfg(path, **auth),))
    sup = StandInSupervisor(cfg)
    if log_file is not None:
        _, app = sup.find("app")
        assert app is not None
        app.stdout_logfile = str(log_file)
    log = log or Logger()

    async def main() -> None:
        servers = await start_servers(sup, cfg, log, limits=limits)
        try:
            await body(servers, path)
        finally:
            await servers.close()
        assert not servers.connections
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())
    return log


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def ok_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    """One keep-alive GET /ok.html on an open connection; its response."""
    writer.write(OK)
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        return head + await reader.readexactly(2)


async def is_closed(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(10):
        return await reader.read(65536) == b""


# -- deadlines ------------------------------------------------------------------------------


def test_a_slowloris_head_gets_408_at_its_deadline_while_others_are_served(
    tmp_path: Path,
) -> None:
    got: dict[str, object] = {}

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET /ok.html HTTP/1.1\r\nHost: x\r\n")
        start = time.monotonic()

        async def trickle() -> None:
            # a byte every 50 ms: each read is well inside the idle timeout
            with contextlib.suppress(OSError):
                while True:
                    await asyncio.sleep(0.05)
                    writer.write(b"X")
                    await writer.drain()

        dripping = asyncio.ensure_future(trickle())
        try:
            answers = []
            for _ in range(3):  # another client, served while the slow head trickles in
                r2, w2 = await asyncio.open_unix_connection(path)
                w2.write(post("/RPC2", RPC, "Connection: close"))
                answers.append(await read_to_eof(r2))
                w2.close()
            got["others_done_at"] = time.monotonic() - start
            got["answers"] = answers
            got["slow"] = await read_to_eof(reader, timeout=10)
            got["slow_closed_at"] = time.monotonic() - start
        finally:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
            writer.close()

    run(tmp_path, body, Limits(head_timeout=1.0, idle_timeout=30))
    answers = got["answers"]
    assert isinstance(answers, list)
    for data in answers:
        assert [status for status, _, _ in parse(data, b"POST")] == [200]
    [(status, headers, text)] = parse(got["slow"])  # type: ignore[arg-type]
    assert status == 408 and headers[b"connection"] == b"close"
    assert b"Error code 408." in text
    assert got["others_done_at"] < got["slow_closed_at"]  # type: ignore[operator]
    assert 1.0 <= got["slow_closed_at"] < 10  # type: ignore[operator]


def test_a_trickling_body_gets_408_at_its_deadline(tmp_path: Path) -> None:
    got: list[tuple[bytes, float]] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        start = time.monotonic()

        async def trickle() -> None:
            with contextlib.suppress(OSError):
                while True:
                    writer.write(b"<" * 10)  # 200 bytes/s: under the minimum rate
                    await writer.drain()
                    await asyncio.sleep(0.05)

        dripping = asyncio.ensure_future(trickle())
        try:
            got.append((await read_to_eof(reader, timeout=10), time.monotonic() - start))
        finally:
            dripping.cancel()
            await asyncio.gather(dripping, return_exceptions=True)
            writer.close()

    run(tmp_path, body, Limits(body_timeout=1.0, body_min_rate=1000, idle_timeout=30))
    [(data, took)] = got
    assert [status for status, _, _ in parse(data, b"POST")] == [408]
    assert 1.0 <= took < 10


def test_a_body_at_the_minimum_rate_is_read(tmp_path: Path) -> None:
    """Every byte received extends the deadline: the rule is a rate, not a fixed time."""
    got: list[tuple[bytes, float]] = []
    padded = RPC.replace(b"<methodCall>", b"<methodCall>" + b" " * (1200 - len(RPC)))

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", b"", "Connection: close").replace(b": 0", b": 1200"))
        start = time.monotonic()
        for i in range(0, 1200, 200):  # 200 bytes per 0.1 s = 2000/s, the rate is 1000/s
            writer.write(padded[i : i + 200])
            await asyncio.sleep(0.1)
        got.append((await read_to_eof(reader), time.monotonic() - start))
        writer.close()

    run(tmp_path, body, Limits(body_timeout=0.3, body_min_rate=1000, idle_timeout=30))
    [(data, took)] = got
    [(status, _, text)] = parse(data, b"POST")
    assert status == 200 and b"<string>3.0</string>" in text
    assert took >= 0.5  # longer than body_timeout alone would have allowed


# -- the connection cap ---------------------------------------------------------------------


def test_at_the_cap_the_longest_waiting_connection_makes_room(tmp_path: Path) -> None:
    got: dict[str, object] = {}

    async def body(servers: HttpServers, path: str) -> None:
        slow_r, slow_w = await asyncio.open_unix_connection(path)
        slow_w.write(b"GET /ok.html HTTP/1.1\r\n")  # a head still coming in
        await until(lambda: len(servers.connections) == 1)
        keep_r, keep_w = await asyncio.open_unix_connection(path)
        first = await ok_on(keep_r, keep_w)  # a keep-alive client, idle after one request
        busy_r, busy_w = await asyncio.open_unix_connection(path)
        busy_w.write(post("/RPC2", b"").replace(b": 0", b": %d" % len(RPC)))  # body to come
        await until(lambda: len(servers.connections) == 3 and len(servers.gate.idle) == 2)

        new_r, new_w = await asyncio.open_unix_connection(path)
        new_w.write(post("/RPC2", RPC, "Connection: close"))
        got["new"] = await read_to_eof(new_r)
        got["slow_closed"] = await is_closed(slow_r)
        got["keep_still_served"] = await ok_on(keep_r, keep_w)  # not the one closed
        other_r, other_w = await asyncio.open_unix_connection(path)  # waiting less long
        await until(lambda: len(servers.connections) == 3)

        newer_r, newer_w = await asyncio.open_unix_connection(path)
        newer_w.write(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        got["newer"] = await read_to_eof(newer_r)
        got["keep_closed"] = await is_closed(keep_r)  # the longest idle now
        got["other"] = await ok_on(other_r, other_w)
        busy_w.write(RPC)  # the busy one was left alone all along
        got["busy"] = await busy_r.readuntil(b"\r\n\r\n")
        got["first"] = first
        for w in (slow_w, keep_w, busy_w, new_w, newer_w, other_w):
            w.close()

    log = run(tmp_path, body, Limits(max_connections=3))
    assert [status for status, _, _ in parse(got["new"], b"POST")] == [200]  # type: ignore[arg-type]
    assert [status for status, _, _ in parse(got["newer"])] == [200]  # type: ignore[arg-type]
    assert got["slow_closed"] is True and got["keep_closed"] is True
    for key in ("first", "keep_still_served", "other", "busy"):
        assert got[key].startswith(b"HTTP/1.1 200 OK\r\n"), key  # type: ignore[attr-defined]
    warnings = [m for level, m in log.lines if level == "WARN"]
    assert warnings == [
        "HTTP server: 3 connections open (the limit): closing the longest idle to make room"
        " for new ones"
    ]


def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(tmp_path: Path) -> None:
    got: dict[str, bytes] = {}

    async def body(servers: HttpServers, path: str) -> None:
        busy = []
        for _ in range(2):
            r, w = await asyncio.open_unix_connection(path)
            w.write(post("/RPC2", b"", "Connection: close").replace(b": 0", b": %d" % len(RPC)))
            busy.append((r, w))
        await until(lambda: len(servers.connections) == 2 and not servers.gate.idle)
        r, w = await asyncio.open_unix_connection(path)
        got["refused"] = await read_to_eof(r)
        w.close()
        r0, w0 = busy[0]
        w0.write(RPC)  # one busy request completes and its connection closes
        got["finished"] = await read_to_eof(r0)
        await until(lambda: len(servers.connections) == 1)
        r, w = await asyncio.open_unix_connection(path)
        w.write(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        got["later"] = await read_to_eof(r)
        for _, bw in busy:
            bw.close()
        w.close()

    run(tmp_path, body, Limits(max_connections=2))
    [(status, headers, text)] = parse(got["refused"])
    assert status == 503 and headers[b"connection"] == b"close"
    assert b"Too many connections are busy; try again later." in text
    assert [status for status, _, _ in parse(got["finished"], b"POST")] == [200]
    assert [status for status, _, _ in parse(got["later"])] == [200]


def _no_fd_left() -> int:
    """The RLIMIT_NOFILE soft limit under which no more fd can be opened: the lowest free
    fd number, which is what a new fd gets."""
    fd = os.open("/dev/null", os.O_RDONLY)
    os.close(fd)
    return fd


def out_of_fds(
    servers: HttpServers, path: str, log: Logger, clients: list[socket.socket]
) -> contextlib.AbstractAsyncContextManager[None]:
    """Connect `clients` while no fd is left to accept them with; the limit comes back on
    leaving. The clients connect in the backlog while the loop is not running."""

    @contextlib.asynccontextmanager
    async def window() -> AsyncIterator[None]:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        try:
            for s in clients:
                s.connect(path)
            resource.setrlimit(resource.RLIMIT_NOFILE, (_no_fd_left(), hard))
            await until(lambda: any("accept() failed" in m for _, m in log.lines))
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return window()


def test_accept_out_of_fds_backs_off_without_spinning_then_serves(tmp_path: Path) -> None:
    got: dict[str, object] = {}
    log = Logger()

    async def body(servers: HttpServers, path: str) -> None:
        # Two clients are busy (their bodies still to come): nothing can be closed to make
        # room, and three more clients wait in the backlog while no fd is left.
        busy = []
        for _ in range(2):
            _, w = await asyncio.open_unix_connection(path)
            w.write(post("/RPC2", b"").replace(b": 0", b": 10"))
            busy.append(w)
        await until(lambda: len(servers.connections) == 2 and not servers.gate.idle)
        waiting = [socket.socket(socket.AF_UNIX) for _ in range(3)]
        async with out_of_fds(servers, path, log, waiting):
            for s in waiting:
                s.sendall(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            cpu = time.process_time()
            await asyncio.sleep(0.5)  # a busy loop would burn all of it
            got["cpu"] = time.process_time() - cpu
            got["open"] = len(servers.connections)
        loop = asyncio.get_running_loop()
        answers = []
        for s in waiting:
            s.settimeout(10)
            answers.append(await loop.run_in_executor(None, _recv_all, s))
            s.close()
        got["answers"] = answers
        for w in busy:
            w.close()

    run(tmp_path, body, Limits(), log=log)
    assert got["cpu"] < 0.25  # type: ignore[operator]
    assert got["open"] == 2
    for data in got["answers"]:  # type: ignore[attr-defined]
        assert [status for status, _, _ in parse(data)] == [200]
    assert [m for level, m in log.lines if level in ("WARN", "INFO")] == [
        "HTTP server: accept() failed (Too many open files): new connections wait until a "
        "file descriptor is free (2 open)",
        "HTTP server: accepting connections again",
    ]


def test_accept_out_of_fds_closes_an_idle_connection_to_make_room(tmp_path: Path) -> None:
    got: dict[str, object] = {}
    log = Logger()

    async def body(servers: HttpServers, path: str) -> None:
        idle_r, idle_w = await asyncio.open_unix_connection(path)
        got["idle_first"] = await ok_on(idle_r, idle_w)
        await until(lambda: len(servers.gate.idle) == 1)
        new = socket.socket(socket.AF_UNIX)
        async with out_of_fds(servers, path, log, [new]):
            new.sendall(OK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            got["idle_closed"] = await is_closed(idle_r)
            new_r, new_w = await asyncio.open_unix_connection(sock=new)
            got["new"] = await read_to_eof(new_r)
        new_w.close()
        idle_w.close()

    run(tmp_path, body, Limits(), log=log)
    assert got["idle_closed"] is True
    assert [status for status, _, _ in parse(got["new"])] == [200]  # type: ignore[arg-type]
    assert [m for level, m in log.lines if level in ("WARN", "INFO")] == [
        "HTTP server: accept() failed (Too many open files): new connections wait until a "
        "file descriptor is free (1 open)",
        "HTTP server: accepting connections again",
    ]


def _recv_all(s: socket.socket) -> bytes:
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


# -- log followers ----------------------------------------------------------------------------


def test_log_followers_above_the_cap_get_503_until_one_leaves(tmp_path: Path) -> None:
    log_file = tmp_path / "app.out"
    log_file.write_bytes(b"line\n")
    got: dict[str, bytes] = {}
    tail = b"GET /logtail/app HTTP/1.1\r\nHost: x\r\n\r\n"

    async def follower(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(tail)
        async with asyncio.timeout(10):
            await reader.readuntil(b"line\n")
        return reader, writer

    async def body(servers: HttpServers, path: str) -> None:
        followers = [await follower(path), await follower(path)]
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(tail)
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            got["refused"] = head + await reader.readexactly(length)
        writer.write(b"GET /ok.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        got["same_connection_after"] = await read_to_eof(reader)  # a 503 keeps it open
        writer.close()
        _, w0 = followers.pop()
        w0.close()
        await until(lambda: len(servers.connections) == 1)
        followers.append(await follower(path))  # room again
        for _, w in followers:
            w.close()

    run(tmp_path, body, Limits(max_followers=2), log_file=log_file)
    [(status, _, text)] = parse(got["refused"])
    assert status == 503
    assert b"Too many log tails are open (2, the limit); close one or try again later." in text
    assert [status for status, _, _ in parse(got["same_connection_after"])] == [200]


# -- refusing a request whose body is still coming ---------------------------------------------


def test_after_a_401_the_client_can_still_send_its_body(tmp_path: Path) -> None:
    """The answer comes first and the connection closes only after the client's body: a
    client that writes its body after its head (http.client does) gets the 401, not EPIPE."""
    got: dict[str, object] = {}

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", b"").replace(b": 0", b": %d" % len(RPC)))
        got["answer"] = await read_to_eof(reader)  # the server's side is done
        writer.write(RPC)
        await writer.drain()  # EPIPE here if the server had closed
        got["sent"] = True
        writer.close()

    run(tmp_path, body, Limits(), username="user", password="pw")
    assert got["sent"] is True
    [(status, headers, _)] = parse(got["answer"], b"POST")  # type: ignore[arg-type]
    assert status == 401 and headers[b"connection"] == b"close"


# -- the log ------------------------------------------------------------------------------------


def test_a_large_invalid_body_is_logged_cut_to_its_first_kib(tmp_path: Path) -> None:
    junk = b"<not-xml " + b"x" * 100_000

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", junk, "Connection: close"))
        assert [s for s, _, _ in parse(await read_to_eof(reader), b"POST")] == [400]
        writer.close()

    log = run(tmp_path, body, Limits())
    [line] = [m for level, m in log.lines if level == "ERRO"]
    assert line.startswith(f"XML-RPC request data {junk[:LOGGED_BODY]!r}... (100009 bytes) ")
    assert line.endswith("is invalid: unmarshallable: unclosed token: line 1, column 0")
    assert len(line) < LOGGED_BODY + 200


def test_deeply_nested_xml_is_answered_400(tmp_path: Path) -> None:
    depth = 100_000
    nested = (
        b"<?xml version='1.0'?><methodCall><methodName>system.listMethods</methodName>"
        b"<params><param>"
        + b"<value><array><data>" * depth
        + b"</data></array></value>" * depth
        + b"</param></params></methodCall>"
    )
    got: list[bytes] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(post("/RPC2", nested, "Connection: close"))
        got.append(await read_to_eof(reader))
        writer.close()

    log = run(tmp_path, body, Limits())
    [(status, _, text)] = parse(got[0], b"POST")
    assert status == 400 and b"Error code 400." in text
    [line] = [m for level, m in log.lines if level == "ERRO"]
    assert line.endswith("is invalid: unmarshallable: elements nested deeper than 512")
    assert not [m for level, m in log.lines if "raised" in m]  # no RecursionError, no 500
