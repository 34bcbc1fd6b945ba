"""What corrald loads at rest: no TLS libraries unless TLS is used (about 8 MiB of RSS)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import textwrap
import xmlrpc.client
from pathlib import Path

import pytest

from tests.support import (
    Daemon,
    OneShotRPC,
    UnixHTTPConnection,
    rpc_proxy,
    self_signed,
    wait_until,
)


def _mapped_libs(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {line.split()[-1].rsplit("/", 1)[-1] for line in maps.splitlines() if ".so" in line}


def _tls_libs(pid: int) -> set[str]:
    return {lib for lib in _mapped_libs(pid) if lib.startswith(("libssl", "libcrypto", "_ssl"))}


def test_a_daemon_without_tls_or_logins_maps_no_crypto_library(daemon) -> None:
    d = daemon("[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    rpc = rpc_proxy(d.sock)
    assert rpc.supervisor.getState()["statename"] == "RUNNING"
    pid = rpc.supervisor.getPID()
    assert _mapped_libs(pid), "reading /proc/pid/maps found no library at all"
    assert _tls_libs(pid) == set()


def test_the_spawn_threads_are_gone_once_autostart_is_done(daemon) -> None:
    programs = "".join(f"[program:p{i}]\ncommand=/bin/sleep 100\nstartsecs=0\n" for i in range(8))
    d = daemon(programs)
    rpc = rpc_proxy(d.sock)
    wait_until(
        lambda: all(p["statename"] == "RUNNING" for p in rpc.supervisor.getAllProcessInfo()),
        timeout=30,
        what="all 8 programs RUNNING",
    )
    pid = rpc.supervisor.getPID()
    # the 8 spawns ran on worker threads; the daemon at rest keeps only its loop thread
    wait_until(
        lambda: len(list(Path(f"/proc/{pid}/task").iterdir())) == 1,
        timeout=10,
        what="the daemon down to one thread",
    )


def test_logins_work_with_the_digest_code_loaded_on_first_use(tmp_path: Path) -> None:
    d = Daemon(tmp_path, "")
    sha = hashlib.sha1(b"secret").hexdigest()
    conf = d.conf.read_text().replace(
        f"file={d.sock}\n", f"file={d.sock}\nusername=u\npassword={{SHA}}{sha}\n"
    )
    d.conf.write_text(conf)
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(d.conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: Path(d.sock).exists(), timeout=30, what="the control socket")
        assert _tls_libs(proc.pid) == set()
        with pytest.raises(xmlrpc.client.ProtocolError) as refused:
            OneShotRPC(d.sock).supervisor.getState()
        assert refused.value.errcode == 401
        conn = UnixHTTPConnection(d.sock)
        token = base64.b64encode(b"u:secret").decode()
        body = xmlrpc.client.dumps((), "supervisor.getPID")
        conn.request("POST", "/RPC2", body, {"Authorization": f"Basic {token}"})
        answer = conn.getresponse()
        assert answer.status == 200
        assert xmlrpc.client.loads(answer.read())[0][0] == proc.pid
        conn.close()
    finally:
        proc.terminate()
        proc.wait(30)


def test_tls_can_be_given_back_to_asyncio(tmp_path: Path) -> None:
    """The issue-13 path: the daemon imported asyncio without ssl; a TLS server still works."""
    cert, key = self_signed(tmp_path)
    script = textwrap.dedent(
        f"""
        import sys
        import corral.daemon
        assert "ssl" not in sys.modules, "asyncio brought ssl in"
        import asyncio
        from corral.runtime.lean import asyncio_ssl
        ssl = asyncio_ssl()

        async def main():
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_ctx.load_cert_chain({str(cert)!r}, {str(key)!r})
            async def echo(r, w):
                w.write(await r.readline()); await w.drain(); w.close()
            srv = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
            port = srv.sockets[0].getsockname()[1]
            client_ctx = ssl.create_default_context(cafile={str(cert)!r})
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx,
                                                 server_hostname="localhost")
            w.write(b"over tls\\n"); await w.drain()
            print((await r.readline()).decode().strip())
            w.close(); srv.close()

        asyncio.run(main())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "over tls"
