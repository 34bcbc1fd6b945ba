"""Probes of tcp, http(s) and exec checks: one try each, bounded by a timeout, never raising
for what the program's state explains (refused, timed out, a bad answer, a failing exit).

An https probe asks whether the program answers, not who it is: like Kubernetes' HTTPS
probes it does not verify the certificate (programs often serve a self-signed one on
loopback), and it sends no credentials.

exec runs through corral's own spawn and reaper (the one waitpid caller), with the
program's user, directory and environment; a try that times out kills the probe's group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from corral.config.model import ProcessConfig
from corral.runtime.reaper import Reaper, describe_status
from corral.runtime.spawn import Identity, SpawnFailure, spawn

if TYPE_CHECKING:
    import ssl

_TAIL = 200  # bytes of an exec probe's output kept for the failure detail
_tls: ssl.SSLContext | None = None  # made on the first https probe: most daemons never load ssl


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        from corral.runtime.lean import asyncio_ssl

        ssl = asyncio_ssl()  # the daemon loaded asyncio without it
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        _tls = ctx
    return _tls


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    detail: str


def _oserror(e: OSError, host: str) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve {host}"
    return (e.strerror or str(e)).lower()


async def probe_tcp(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return ProbeResult(False, f"timed out after {timeout:g} s")
    except OSError as e:
        return ProbeResult(False, _oserror(e, host))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeResult(True, "connected")


async def probe_http(url: str, timeout: float) -> ProbeResult:
    import h11  # on first use: the HTTP server loads it only after autostart (start-up time)

    parts = urlsplit(url)
    host = parts.hostname or ""
    tls = _tls_context() if parts.scheme.lower() == "https" else None
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            # the TLS handshake is inside the timeout: a server that never finishes it fails
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, ssl_handshake_timeout=timeout if tls else None
            )
            conn = h11.Connection(h11.CLIENT)
            netloc = parts.netloc.rpartition("@")[2]
            request = h11.Request(
                method="GET",
                target=target,
                headers=[
                    ("Host", netloc),
                    ("User-Agent", "corral-probe"),
                    ("Connection", "close"),
                ],
            )
            writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    conn.receive_data(data)  # b"" is the end of the stream
                    continue
                if isinstance(event, h11.Response):
                    code = event.status_code
                    return ProbeResult(200 <= code < 400, f"answered {code}")
                if isinstance(event, h11.ConnectionClosed):
                    return ProbeResult(False, "connection closed without an answer")
    except TimeoutError:
        return ProbeResult(False, f"timed out after {timeout:g} s")
    except h11.RemoteProtocolError as e:
        return ProbeResult(False, f"bad answer: {e}")
    except OSError as e:
        reason = getattr(e, "reason", None)  # an ssl.SSLError: say it was the TLS that failed
        if tls is not None and reason is not None and hasattr(e, "library"):
            return ProbeResult(False, f"TLS failed: {str(reason).lower().replace('_', ' ')}")
        return ProbeResult(False, _oserror(e, host))
    finally:
        if writer is not None:
            writer.close()


async def probe_exec(
    command: str,
    cfg: ProcessConfig,
    env: dict[str, str],
    *,
    identity: Identity | None,
    reaper: Reaper,
    timeout: float,
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    try:
        child = spawn(replace(cfg, command=command, redirect_stderr=True), env, identity=identity)
    except SpawnFailure as e:
        return ProbeResult(False, e.message)
    if child.stdin_fd is not None:
        os.close(child.stdin_fd)
    out = child.stdout_fd
    tail = bytearray()
    exited: asyncio.Future[int] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(out, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(out)
            return
        tail.extend(data)
        del tail[:-_TAIL]

    def on_exit(status: int) -> None:
        if not exited.done():
            exited.set_result(status)

    loop.add_reader(out, readable)
    reaper.watch(child.pid, on_exit)
    try:
        try:
            async with asyncio.timeout(timeout):
                status = await asyncio.shield(exited)
        except TimeoutError:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            await asyncio.shield(exited)  # no zombie left behind
            return ProbeResult(False, f"timed out after {timeout:g} s")
        except asyncio.CancelledError:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            raise
        readable()
    finally:
        loop.remove_reader(out)
        os.close(out)
    code, text = describe_status(status)
    if code == 0:
        return ProbeResult(True, "exit status 0")
    last = bytes(tail).decode("utf-8", "replace").strip().splitlines()
    return ProbeResult(False, f"{text}: {last[-1]}" if last else text)
