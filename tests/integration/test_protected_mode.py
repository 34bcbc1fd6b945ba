"""An inet server without credentials on an address other hosts can reach answers only
loopback clients (protected mode); the other side is a network namespace joined by a veth
pair that the test makes (and removes) itself."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.config.model import InetServerConfig
from corral.server.http import _protected
from tests.support import Daemon, free_port

CLIENT = """
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
"""


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """(namespace, the host side's address): 10.213.N.1 here, 10.213.N.2 in the namespace."""
    n = os.getpid() % 250 + 1
    ns, host, peer = f"corral-t{n}", f"crlh{n}", f"crln{n}"
    try:
        run("ip", "netns", "add", ns)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"cannot make a network namespace (iproute2, root): {e}")
    try:
        run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", peer, "netns", ns)
        run("ip", "addr", "add", f"10.213.{n}.1/30", "dev", host)
        run("ip", "link", "set", host, "up")
        run("ip", "netns", "exec", ns, "ip", "addr", "add", f"10.213.{n}.2/30", "dev", peer)
        run("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
        yield ns, f"10.213.{n}.1"
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def from_ns(ns: str, url: str) -> tuple[int, str]:
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    status, _, body = r.stdout.partition(" ")
    assert status.isdigit(), r.stdout + r.stderr
    return int(status), body


@pytest.mark.parametrize("insecure", [False, True])
def test_other_hosts_get_403_unless_insecure_no_auth(
    tmp_path: Path, netns: tuple[str, str], insecure: bool
) -> None:
    ns, address = netns
    port = free_port()
    extra = f"[inet_http_server]\nport={address}:{port}\n"
    if insecure:
        extra += "insecure_no_auth=true\n"
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 1000\nstartsecs=0\n", extra=extra)
    d.start()
    try:
        status, body = from_ns(ns, f"http://{address}:{port}/api/v1/processes")
        if insecure:
            assert status == 200 and '"name":"a"' in body
        else:
            assert status == 403 and "protected mode" in body and "insecure_no_auth" in body
            assert "serves only loopback clients (protected mode)" in d.log()
        assert from_ns(ns, f"http://{address}:{port}/healthz") == (200, "ok\n\n")  # probes
        assert d.info("a")["statename"] == "RUNNING"  # the unix socket is not affected
    finally:
        d.cleanup()


@pytest.mark.parametrize(
    ("host", "insecure", "protected"),
    [
        ("", False, True),  # all interfaces
        ("0.0.0.0", False, True),
        ("10.0.0.5", False, True),
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("", True, False),
    ],
)
def test_which_servers_are_protected(host: str, insecure: bool, protected: bool) -> None:
    cfg = InetServerConfig("inet_http_server", host, 9001, None, None, insecure_no_auth=insecure)
    assert _protected(cfg) is protected
