"""HTTPS on [inet_http_server] (certfile/keyfile) and client certificates (cafile), with
certificates made here by the openssl command: corralctl verifies the server against
[supervisorctl] cafile and shows its own certificate when asked."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import Daemon, env_for_children, free_port, openssl, wait_until


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=d,
    )  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client", "stranger"):
        openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d,
        )  # fmt: skip
    for name in ("server", "client"):
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem", cwd=d,
        )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "stranger.csr", "-signkey", "stranger.key", "-days", "2",
        "-out", "stranger.pem", cwd=d,
    )  # fmt: skip
    return d


PROGRAMS = "[program:app]\ncommand=/bin/sleep 1000\nstartsecs=0\n"


def start(tmp: Path, certs: Path, *, mtls: bool, ctl: str = "") -> tuple[Daemon, int]:
    port = free_port()
    extra = (
        f"[inet_http_server]\nport=127.0.0.1:{port}\n"
        f"certfile={certs / 'server.pem'}\nkeyfile={certs / 'server.key'}\n"
        + (f"cafile={certs / 'ca.pem'}\n" if mtls else "")
    )
    d = Daemon(tmp, PROGRAMS, extra=extra)
    if ctl:  # the harness wrote [supervisorctl]; point corralctl at the HTTPS server instead
        d.conf.write_text(
            d.conf.read_text().replace(f"serverurl=unix://{d.sock}\n", ctl.format(port=port))
        )
    d.start()
    return d, port


def ctl(d: Daemon, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=60,
    )
    return r.stdout + r.stderr, r.returncode


def test_https_serves_and_corralctl_verifies_it(tmp_path: Path, certs: Path) -> None:
    d, port = start(
        tmp_path,
        certs,
        mtls=False,
        ctl=f"serverurl=https://127.0.0.1:{{port}}\ncafile={certs / 'ca.pem'}\n",
    )
    try:
        ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx) as r:
            assert r.read() == b"ok\n"
        out, code = ctl(d, "status")
        assert code == 0 and out.startswith("app ") and "RUNNING" in out
        # the handshake is TLS 1.2 or newer
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        # plain HTTP to the HTTPS port gets nothing, and the daemon goes on serving
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
            assert b"200" not in s.recv(1024)
        assert ctl(d, "status")[1] == 0
    finally:
        d.cleanup()


def test_corralctl_refuses_a_server_it_cannot_verify(tmp_path: Path, certs: Path) -> None:
    d, _ = start(tmp_path, certs, mtls=False, ctl="serverurl=https://127.0.0.1:{port}\n")
    try:
        out, code = ctl(d, "status")  # the system's CAs do not know our test CA
        assert code != 0 and "CERTIFICATE_VERIFY_FAILED" in out
    finally:
        d.cleanup()


def test_mtls_requires_a_client_certificate_from_the_ca(tmp_path: Path, certs: Path) -> None:
    base = f"serverurl=https://127.0.0.1:{{port}}\ncafile={certs / 'ca.pem'}\n"
    d, port = start(
        tmp_path,
        certs,
        mtls=True,
        ctl=base + f"certfile={certs / 'client.pem'}\nkeyfile={certs / 'client.key'}\n",
    )
    try:
        out, code = ctl(d, "status")
        assert code == 0 and "RUNNING" in out
        for cert in (None, "stranger"):
            ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
            if cert:
                ctx.load_cert_chain(str(certs / f"{cert}.pem"), str(certs / f"{cert}.key"))
            refused = (ssl.SSLError, ConnectionResetError, urllib.error.URLError)
            url = f"https://127.0.0.1:{port}/healthz"
            with pytest.raises(refused), urllib.request.urlopen(url, context=ctx, timeout=15) as r:
                r.read()
        wait_until(lambda: ctl(d, "status")[1] == 0, what="still serving")
    finally:
        d.cleanup()


def test_a_keyfile_without_certfile_is_refused_with_its_line(tmp_path: Path, certs: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(
        f"[supervisord]\n[inet_http_server]\nport=127.0.0.1:9\nkeyfile={certs / 'server.key'}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(conf)],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )
    assert r.returncode != 0 and "keyfile and cafile need a certfile" in r.stderr
    assert "bad.conf" in r.stderr
