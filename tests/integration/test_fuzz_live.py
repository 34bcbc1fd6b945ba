"""Thousands of hostile requests on both sockets of a live corrald (random bytes, cut heads,
oversized heads and bodies, slow clients, bad XML and JSON), then: it still answers, its fd
count and RSS are back where they were, and its program never restarted.

`pytest -m fuzz` runs ten times as many."""

from __future__ import annotations

import os
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import Daemon, free_port, wait_until

HEADS = [b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS", b"BREW", b"\x00\xff"]
PATHS = [b"/RPC2", b"/api/v1/processes", b"/api/v1/processes/a/restart", b"/logtail/a",
         b"/metrics", b"/", b"/static/app.js", b"/healthz", b"/%00", b"/" + b"a" * 9000,
         b"/api/v1/events", b"*", b"http://x/RPC2"]  # fmt: skip


def _request(rng: random.Random) -> tuple[bytes, float]:
    """One hostile request, and how long to linger before closing (a slow client)."""
    kind = rng.randrange(9)
    method, path = rng.choice(HEADS), rng.choice(PATHS)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 600)), 0.0
    if kind == 1:  # a head cut anywhere
        full = method + b" " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
        return full[: rng.randrange(1, len(full))], 0.0
    if kind == 2:  # an oversized header
        return method + b" / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", 0.0
    if kind == 3:  # a body announced far bigger than sent
        return b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n<?xml", 0.0
    if kind == 4:  # bad XML-RPC
        bad_int = (
            b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName>"
            b"<params><param><value><int>x</int></value></param></params></methodCall>"
        )
        body = rng.choice([b"<methodCall>", bad_int, rng.randbytes(200)])
        head = b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
        return head + body, 0.0
    if kind == 5:  # bad JSON, or no JSON type
        body = rng.choice([b"{", b"[]", b'{"signal": []}', rng.randbytes(50)])
        ctype = rng.choice([b"application/json", b"text/plain"])
        return (
            b"POST /api/v1/processes/a/signal HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype
            + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        ), 0.0  # fmt: skip
    if kind == 6:  # a slow client: part of a head, then it waits
        return b"GET /RPC2 HTTP/1.1\r\nHo", rng.uniform(0.05, 0.5)
    if kind == 7:  # bad chunked encoding
        return (b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0.0)
    return method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n", 0.0  # odd but well formed


def _send(address: tuple[str, int] | str, data: bytes, linger: float) -> None:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(address)
        s.sendall(data)
        if linger:
            time.sleep(linger)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass  # refused, reset, timed out: the daemon's right
    finally:
        s.close()


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _hostile(tmp_path: Path, count: int) -> None:
    port = free_port()
    d = Daemon(
        tmp_path,
        "[program:a]\ncommand=/bin/sleep 1000\nstartsecs=0\n",
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\n",
    ).start()
    try:
        assert d.proc is not None
        pid, program = d.proc.pid, d.info("a")["pid"]
        for _ in range(50):  # warm up the paths a fuzz run takes, so RSS compares like for like
            _send(d.sock, b"GET /metrics HTTP/1.0\r\n\r\n", 0)
            _send(("127.0.0.1", port), b"GET /api/v1/processes HTTP/1.0\r\n\r\n", 0)
        fds, rss = _fds(pid), _rss_kib(pid)
        rng = random.Random(20261203)
        jobs = [(rng.choice([d.sock, ("127.0.0.1", port)]), *_request(rng)) for _ in range(count)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda j: _send(*j), jobs))
        assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
        wait_until(lambda: _fds(pid) <= fds + 2, timeout=30, what="fds back")
        grown = _rss_kib(pid) - rss
        assert grown < 12 * 1024, f"RSS grew {grown} KiB"
        info = d.info("a")
        assert info["pid"] == program and info["statename"] == "RUNNING"
        assert "Traceback" not in d.log() and "Traceback" not in d.stderr()
    finally:
        d.cleanup()


def test_hostile_requests_leave_it_as_it_was(tmp_path: Path) -> None:
    _hostile(tmp_path, 2000)


@pytest.mark.fuzz
def test_hostile_requests_leave_it_as_it_was_large(tmp_path: Path) -> None:
    _hostile(tmp_path, 20000)
