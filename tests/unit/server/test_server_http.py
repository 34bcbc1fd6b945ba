"""The HTTP server for real, on a temp unix socket (and TCP on 127.0.0.1), with the
stand-in Supervisor behind it."""

from __future__ import annotations

import asyncio
import base64
import http.client
import os
import socket
import xmlrpc.client
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from corral.config.model import InetServerConfig, UnixServerConfig
from corral.server.http import ANOTHER_PROGRAM, HttpServers, ServerError, start_servers
from tests.unit.api.standin import Logger, StandInSupervisor, config, gconfig, pconfig


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.unix_path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # Cached where Transport.close() (ServerProxy's __exit__) will find and close it.
        if self._connection[1] is None or self._connection[0] != host:
            self._connection = host, UnixConnection(self.unix_path)
        return self._connection[1]


def request(
    path: str,
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = UnixConnection(path)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def rpc(path: str, method: str, *args: Any) -> Any:
    """One XML-RPC call over the unix socket (blocking: run it in a thread)."""
    with xmlrpc.client.ServerProxy("http://localhost", transport=UnixTransport(path)) as proxy:
        return getattr(proxy, method)(*args)


def unix_cfg(
    path: str, username: str | None = None, password: str | None = None
) -> UnixServerConfig:
    return UnixServerConfig(
        section="unix_http_server",
        file=path,
        chmod=0o700,
        chown=None,
        username=username,
        password=password,
    )


def serve(
    tmp: Path,
    body: Callable[[HttpServers, str], Awaitable[None]],
    *,
    sock: str | None = None,
    **auth: str,
) -> Logger:
    """Start the servers for one unix socket, run body(servers, path), close them."""
    path = sock or str(tmp / "corral.sock")
    cfg = config(str(tmp), (gconfig("app", pconfig("app")),), unix=(unix_cfg(path, **auth),))
    sup = StandInSupervisor(cfg)
    log = Logger()

    async def main() -> None:
        servers = await start_servers(sup, cfg, log)
        try:
            await body(servers, path)
        finally:
            await servers.close()

    asyncio.run(main())
    return log


def test_xmlrpc_over_the_unix_socket_and_the_socket_is_removed_at_close(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    async def body(servers: HttpServers, path: str) -> None:
        seen["version"] = await asyncio.to_thread(rpc, path, "supervisor.getAPIVersion")
        seen["mode"] = os.stat(path).st_mode & 0o777
        seen["leftover"] = [p.name for p in tmp_path.iterdir() if p.name.startswith("corral.sock.")]

    log = serve(tmp_path, body)
    assert seen == {"version": "3.0", "mode": 0o700, "leftover": []}
    assert not (tmp_path / "corral.sock").exists()
    assert (
        "CRIT",
        "Server 'unix_http_server' running without any HTTP authentication checking",
    ) in log.lines


def test_http_errors_and_plain_routes(tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def body(servers: HttpServers, path: str) -> None:
        got["get_rpc"] = await asyncio.to_thread(request, path, "GET", "/RPC2")
        got["bad_xml"] = await asyncio.to_thread(request, path, "POST", "/RPC2", b"not xml")
        got["ok"] = await asyncio.to_thread(request, path, "GET", "/ok.html")
        got["tail404"] = await asyncio.to_thread(request, path, "GET", "/logtail/nosuch")
        got["tail_no_file"] = await asyncio.to_thread(request, path, "GET", "/logtail/app/stdout")
        got["tail_post"] = await asyncio.to_thread(request, path, "POST", "/logtail/app", b"")
        got["other"] = await asyncio.to_thread(request, path, "GET", "/nothing/here")

    log = serve(tmp_path, body)
    status, headers, text = got["get_rpc"]
    assert status == 400 and headers["Content-Type"] == "text/html" and b"Error code 400" in text
    assert headers["Server"].startswith("corral")
    assert got["bad_xml"][0] == 400
    assert any(level == "ERRO" and "invalid" in msg for level, msg in log.lines)
    assert got["ok"][0] == 200 and got["ok"][2] == b"OK"
    assert got["ok"][1]["Content-Type"] == "text/plain"
    assert [got[k][0] for k in ("tail404", "tail_no_file", "tail_post", "other")] == [
        404,
        404,
        400,
        404,
    ]


def test_rpc_response_is_text_xml_byte_for_byte(tmp_path: Path) -> None:
    call = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode()
    got: list[tuple[int, dict[str, str], bytes]] = []

    async def body(servers: HttpServers, path: str) -> None:
        got.append(await asyncio.to_thread(request, path, "POST", "/RPC2", call))

    serve(tmp_path, body)
    status, headers, data = got[0]
    assert status == 200 and headers["Content-Type"] == "text/xml"
    assert data == (
        b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n"
        b"<value><string>3.0</string></value>\n</param>\n</params>\n</methodResponse>\n"
    )


def test_logtail_streams_the_end_of_the_log(tmp_path: Path) -> None:
    log_file = tmp_path / "app.out"
    log_file.write_bytes(b"x" * 2000 + b"last line\n")
    got: list[Any] = []

    async def body(servers: HttpServers, path: str) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"GET /logtail/app HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        data = b""
        while b"last line" not in data:
            data += await asyncio.wait_for(reader.read(4096), 5)
        got.extend([head, data])
        writer.close()

    cfg_path = str(tmp_path / "corral.sock")
    cfg = config(str(tmp_path), (gconfig("app", pconfig("app")),), unix=(unix_cfg(cfg_path),))
    sup = StandInSupervisor(cfg)
    _, app = sup.find("app")
    assert app is not None
    app.stdout_logfile = str(log_file)

    async def main() -> None:
        servers = await start_servers(sup, cfg, Logger())
        try:
            await body(servers, cfg_path)
        finally:
            await servers.close()

    asyncio.run(main())
    head = got[0].decode().lower()
    assert "content-type: text/plain;charset=utf-8" in head
    assert "x-accel-buffering: no" in head and "transfer-encoding: chunked" in head
    assert "last-modified:" in head
    assert b"x" * 900 in got[1] and b"x" * 1100 not in got[1]


def test_credentials_are_required_when_configured(tmp_path: Path) -> None:
    got: dict[str, Any] = {}
    good = "Basic " + base64.b64encode(b"user:pw").decode()
    no_colon = "Basic " + base64.b64encode(b"userpw").decode()

    async def body(servers: HttpServers, path: str) -> None:
        got["none"] = await asyncio.to_thread(request, path, "GET", "/ok.html")
        got["no_colon"] = await asyncio.to_thread(
            request, path, "GET", "/ok.html", None, {"Authorization": no_colon}
        )
        got["good"] = await asyncio.to_thread(
            request, path, "GET", "/ok.html", None, {"Authorization": good}
        )

    log = serve(tmp_path, body, username="user", password="pw")
    status, headers, _ = got["none"]
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="default"'
    assert got["no_colon"][0] == 401
    assert got["good"][0] == 200
    assert not any(level == "CRIT" for level, _ in log.lines)


def test_a_stale_socket_file_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening: what a killed daemon leaves behind
    stale.close()
    seen: list[str] = []

    async def body(servers: HttpServers, p: str) -> None:
        seen.append(await asyncio.to_thread(rpc, p, "supervisor.getAPIVersion"))

    serve(tmp_path, body, sock=path)
    assert seen == ["3.0"]


def test_a_live_socket_is_not_taken_over(tmp_path: Path) -> None:
    path = str(tmp_path / "corral.sock")
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(1)
    try:
        with pytest.raises(ServerError) as info:
            serve(tmp_path, lambda s, p: asyncio.sleep(0), sock=path)
        assert str(info.value) == ANOTHER_PROGRAM
        assert os.path.exists(path)  # still the other program's
        assert not [p for p in tmp_path.iterdir() if p.name.startswith("corral.sock.")]
    finally:
        live.close()


def tcp_identification(port: int) -> Any:
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}") as proxy:
        return proxy.supervisor.getIdentification()


def test_inet_server_on_loopback(tmp_path: Path) -> None:
    inet = InetServerConfig(
        section="inet_http_server", host="127.0.0.1", port=0, username=None, password=None
    )
    cfg = config(str(tmp_path), (gconfig("app", pconfig("app")),), inet=(inet,))
    seen: list[Any] = []

    async def main() -> None:
        servers = await start_servers(StandInSupervisor(cfg), cfg, Logger())
        try:
            sock = servers.sockets[0]
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
            port = sock.getsockname()[1]
            seen.append(await asyncio.to_thread(tcp_identification, port))
            busy = InetServerConfig(
                section="inet_http_server",
                host="127.0.0.1",
                port=port,
                username=None,
                password=None,
            )
            other = config(str(tmp_path), inet=(busy,))
            try:
                await start_servers(StandInSupervisor(other), other, Logger())
            except ServerError as exc:
                seen.append(str(exc))
        finally:
            await servers.close()

    asyncio.run(main())
    assert seen == ["standin", ANOTHER_PROGRAM]
