"""Probes (issue 9): real loopback servers, real probe children reaped by corral's Reaper."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from corral.config import load
from corral.config.model import ProcessConfig
from corral.logs.mainlog import MainLog
from corral.runtime.probes import ProbeResult, probe_exec, probe_http, probe_tcp
from corral.runtime.reaper import Reaper
from tests.support import self_signed


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serving(answer: bytes | None, body: Callable[[int], Awaitable[Any]]) -> Any:
    """A loopback server that sends `answer` to each request (None: never answers)."""

    writers: list[asyncio.StreamWriter] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        if answer is not None:
            writer.write(answer)
            await writer.drain()
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await body(port)
    finally:
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()


def http_answer(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode()


def test_tcp() -> None:
    async def ok(port: int) -> ProbeResult:
        return await probe_tcp("127.0.0.1", port, 2)

    assert run(serving(b"", ok)) == ProbeResult(True, "connected")
    port = closed_port()
    assert run(probe_tcp("127.0.0.1", port, 2)) == ProbeResult(False, "connection refused")
    bad = run(probe_tcp("no-such-host.invalid", 80, 5))
    assert not bad.ok and bad.detail == "cannot resolve no-such-host.invalid"


def test_http_statuses() -> None:
    for status, ok in (("200 OK", True), ("302 Found", True), ("500 Oops", False)):

        async def probe(port: int) -> ProbeResult:
            return await probe_http(f"http://127.0.0.1:{port}/health", 2)

        got = run(serving(http_answer(status), probe))
        assert got == ProbeResult(ok, f"answered {status.split()[0]}")


def test_http_bad_answers_and_silence() -> None:
    async def probe(port: int) -> ProbeResult:
        return await probe_http(f"http://127.0.0.1:{port}/", 0.5)

    garbage = run(serving(b"SSH-2.0-OpenSSH\r\n\r\n", probe))
    assert not garbage.ok and garbage.detail.startswith("bad answer")
    closed = run(serving(b"", probe))
    assert not closed.ok
    silent = run(serving(None, probe))
    assert silent == ProbeResult(False, "timed out after 0.5 s")
    refused = run(probe_http(f"http://127.0.0.1:{closed_port()}/", 1))
    assert refused == ProbeResult(False, "connection refused")


async def serving_tls(
    answer: bytes, cert: Path, key: Path, body: Callable[[int], Awaitable[Any]]
) -> Any:
    """A loopback HTTPS server with a self-signed certificate sending `answer` to a request."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    paths: list[bytes] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            paths.append((await reader.readuntil(b"\r\n\r\n")).split()[1])
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        return await body(port), paths
    finally:
        server.close()
        await server.wait_closed()


def test_https_needs_no_trusted_certificate_and_reads_the_status(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    for status, ok in (("200 OK", True), ("503 Busy", False)):

        async def probe(port: int) -> ProbeResult:
            return await probe_http(f"https://127.0.0.1:{port}/ready?deep=1", 5)

        got, paths = run(serving_tls(http_answer(status), cert, key, probe))
        assert got == ProbeResult(ok, f"answered {status.split()[0]}")
        assert paths == [b"/ready?deep=1"]  # the request went through the TLS channel


def test_https_to_a_plain_server_says_tls_failed_and_a_silent_one_times_out() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(http_answer("200 OK"))  # at once: a plain HTTP server's bytes
        await writer.drain()
        writer.close()

    async def main() -> tuple[ProbeResult, ProbeResult]:
        server = await asyncio.start_server(plain, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            wrong = await probe_http(f"https://127.0.0.1:{port}/", 5)
        finally:
            server.close()
            await server.wait_closed()

        async def silent(port: int) -> ProbeResult:  # accepts, never answers the handshake
            return await probe_http(f"https://127.0.0.1:{port}/", 0.5)

        return wrong, await serving(None, silent)

    wrong, silent = run(main())
    assert not wrong.ok and wrong.detail.startswith("TLS failed: "), wrong
    assert silent == ProbeResult(False, "timed out after 0.5 s")
    refused = run(probe_http(f"https://127.0.0.1:{closed_port()}/", 1))
    assert refused == ProbeResult(False, "connection refused")


def _cfg(tmp_path: Path) -> ProcessConfig:
    conf = tmp_path / "c.conf"
    conf.write_text(f"[supervisord]\n[program:p]\ncommand=/bin/true\ndirectory={tmp_path}\n")
    return load(str(conf)).groups[0].processes[0]


def exec_probe(tmp_path: Path, command: str, timeout: float = 5.0) -> ProbeResult:
    cfg = _cfg(tmp_path)

    async def main() -> ProbeResult:
        log = MainLog(str(tmp_path / "main.log"), 0, 0, "info", echo=False)
        reaper = Reaper(log)
        loop = asyncio.get_running_loop()
        reaper.install(loop)
        try:
            env = dict(os.environ, PROBE_VAR="from-env")
            return await probe_exec(
                command, cfg, env, identity=None, reaper=reaper, timeout=timeout
            )
        finally:
            reaper.uninstall(loop)
            log.close()

    return asyncio.run(main())


def test_exec_passes_fails_with_its_output_and_runs_in_the_directory(tmp_path: Path) -> None:
    assert exec_probe(tmp_path, "/bin/true") == ProbeResult(True, "exit status 0")
    got = exec_probe(tmp_path, "/bin/sh -c 'echo first; echo boom >&2; exit 3'")
    assert got == ProbeResult(False, "exit status 3: boom")
    assert exec_probe(tmp_path, "/bin/sh -c 'pwd > where; echo $PROBE_VAR > env'").ok
    assert (tmp_path / "where").read_text().strip() == str(tmp_path)
    assert (tmp_path / "env").read_text().strip() == "from-env"
    missing = exec_probe(tmp_path, "/no/such/probe")
    assert not missing.ok and "/no/such/probe" in missing.detail


def test_exec_timeout_kills_the_probe_and_leaves_no_zombie(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    got = exec_probe(tmp_path, f"/bin/sh -c 'echo $$ > {pidfile}; exec sleep 30'", timeout=0.5)
    assert got == ProbeResult(False, "timed out after 0.5 s")
    pid = int(pidfile.read_text())
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped, not a zombie
