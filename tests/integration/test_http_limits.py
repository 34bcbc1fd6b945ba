"""A real corrald under load it must shed: 2,000 idle connections (half of them slowloris
heads) leave it answering a new client, its fds stay bounded, more log followers than the
cap get 503, and a deeply nested request is a 400 whose body the log shows cut short."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Callable, Iterator

import pytest

from corral.server.accept import MAX_CONNECTIONS, connection_cap
from corral.server.connection import Limits
from corral.server.http import LOGGED_BODY
from tests.support import Daemon, UnixHTTPConnection, wait_until

PROGRAMS = """\
[program:cat]
command=/bin/cat
startsecs=0
"""
IDLE = 2000


@pytest.fixture
def enough_fds() -> Iterator[None]:
    """Room for the test's own 2,000 sockets; the daemon it starts inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def daemon_fds(d: Daemon) -> int:
    assert d.proc is not None
    return len(os.listdir(f"/proc/{d.proc.pid}/fd"))


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(1, socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_2000_idle_connections_leave_the_daemon_serving_a_new_client(
    enough_fds: None, daemon: Callable[..., Daemon]
) -> None:
    d = daemon(PROGRAMS)
    cap = connection_cap(Limits())  # what the daemon computes: it has the same RLIMIT_NOFILE
    assert cap == MAX_CONNECTIONS
    before = daemon_fds(d)
    idle: list[socket.socket] = []
    try:
        for i in range(IDLE):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            idle.append(s)
            s.connect(d.sock)  # blocking: waits while the backlog is full, the daemon accepts
            if i % 2:
                s.sendall(b"GET /ok.html HTTP/1.1\r\nHost: x\r\n")  # a head never finished
        # Every one of them is accepted (a connect completes in the backlog, before that):
        # the daemon holds the cap and has closed the rest, the longest idle first.
        wait_until(
            lambda: sum(closed_by_peer(s) for s in idle) >= IDLE - cap,
            timeout=30,
            what="the daemon to close the longest idle connections",
        )
        # a new client's RPCs are answered at once: room is made by closing the longest idle
        assert d.rpc.supervisor.getState() == {"statecode": 1, "statename": "RUNNING"}
        assert d.info("cat")["statename"] == "RUNNING"
        assert daemon_fds(d) <= before + cap
        # the oldest went first: the newest connections are still open
        assert not any(closed_by_peer(s) for s in idle[-100:])
    finally:
        for s in idle:
            s.close()
    log = d.log()
    assert log.count(f"HTTP server: {cap} connections open (the limit)") == 1
    # with the idle clients gone the daemon is back to its own fds
    wait_until(lambda: daemon_fds(d) <= before + 1, timeout=30, what="the fds to be freed")


def test_log_followers_above_the_cap_get_503(daemon: Callable[..., Daemon]) -> None:
    d = daemon(PROGRAMS)
    cap = Limits().max_followers
    followers: list[UnixHTTPConnection] = []
    try:
        for _ in range(cap):
            conn = UnixHTTPConnection(d.sock, timeout=10)
            conn.request("GET", "/logtail/cat")
            assert conn.getresponse().status == 200
            followers.append(conn)
        conn = UnixHTTPConnection(d.sock, timeout=10)
        conn.request("GET", "/mainlogtail")
        refused = conn.getresponse()
        body = refused.read()
        conn.close()
        assert refused.status == 503
        assert b"Too many log tails are open (64, the limit)" in body
        # the RPC side is not affected by the followers
        assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
    finally:
        for conn in followers:
            conn.close()

    def tail_ok() -> bool:
        conn = UnixHTTPConnection(d.sock, timeout=10)
        try:
            conn.request("GET", "/mainlogtail")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    wait_until(tail_ok, timeout=10, what="a follower's place to be free again")


def test_deeply_nested_xml_gets_400_and_the_log_cuts_the_body(
    daemon: Callable[..., Daemon],
) -> None:
    d = daemon(PROGRAMS)
    depth = 100_000
    body = (
        b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState</methodName>"
        b"<params><param>"
        + b"<value><struct><member><name>a</name><value><struct>" * depth
        + b"</struct></value></member></struct></value>" * depth
        + b"</param></params></methodCall>"
    )
    conn = UnixHTTPConnection(d.sock, timeout=30)
    try:
        conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
        response = conn.getresponse()
        assert response.status == 400
        assert b"Error code 400." in response.read()
    finally:
        conn.close()
    line = d.wait_log(f"... ({len(body)} bytes) is invalid")
    [logged] = [x for x in line.splitlines() if "is invalid" in x]
    assert logged.endswith("is invalid: unmarshallable: elements nested deeper than 512")
    assert len(logged) < LOGGED_BODY + 200
    assert "Traceback" not in d.log() and "RecursionError" not in d.log()
    assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
