"""The HTTP layer through real sockets: the unix socket's mode and owner, Basic auth with
plain and {SHA} passwords (401 for anything wrong, never 500), and the streaming log tails
(/logtail/<name>, /logtail/<name>/stderr, /mainlogtail) followed by `tail -f` and
`maintail -f` of corralctl and of Supervisor 4.3's own supervisorctl."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import (
    Daemon,
    UnixHTTPConnection,
    env_for_children,
    missing_test_extra,
    wait_until,
)

PROGRAMS = """\
[program:cat]
command=/bin/cat
startsecs=0

[program:errcat]
command=/bin/sh -c "exec /bin/cat 1>&2"
startsecs=0

[program:idle]
command=/bin/sleep 1000
startsecs=0
autostart=false
"""

USER, SECRET, INET_SECRET = "admin", "s3cret", "plain-pass"
SUPERVISORCTL = shutil.which("supervisorctl")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose unix socket is chmod 0760, chowned to nobody:nogroup (as root), with a
    {SHA} password; its inet server on loopback has a plain password. The ctl section has the
    unix socket's credentials, so corralctl and supervisorctl authenticate with them."""
    d = Daemon(tmp_path, PROGRAMS)
    digest = hashlib.sha1(SECRET.encode()).hexdigest()
    chown = "chown=nobody:nogroup\n" if os.geteuid() == 0 else ""
    port = free_port()
    text = d.conf.read_text().replace(
        f"serverurl=unix://{d.sock}\n",
        f"serverurl=unix://{d.sock}\nusername={USER}\npassword={SECRET}\n",
    )
    text = text.replace(
        f"file={d.sock}\n",
        f"file={d.sock}\nchmod=0760\n{chown}username={USER}\npassword={{SHA}}{digest}\n\n"
        f"[inet_http_server]\nport=127.0.0.1:{port}\nusername={USER}\npassword={INET_SECRET}\n",
    )
    assert "\n " not in text  # no option is continued by an indented line
    d.conf.write_text(text)
    d.port = port  # type: ignore[attr-defined]
    d.start(wait=False)
    wait_until(lambda: ok(d.sock, basic(USER, SECRET)) == 200, timeout=15, what="corrald up")
    try:
        yield d
    finally:
        d.stop()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(
    conn: http.client.HTTPConnection, method: str, path: str, auth: str | None, body: bytes = b""
) -> http.client.HTTPResponse:
    headers = {} if auth is None else {"Authorization": auth}
    if body:
        headers["Content-Type"] = "text/xml"
    conn.request(method, path, body=body or None, headers=headers)
    return conn.getresponse()


def ok(sock: str, auth: str | None) -> int:
    try:
        conn = UnixHTTPConnection(sock, timeout=5)
        try:
            return request(conn, "GET", "/ok.html", auth).status
        finally:
            conn.close()
    except OSError:
        return 0


def test_socket_file_gets_the_configured_mode_and_owner(secured: Daemon) -> None:
    st = os.stat(secured.sock)
    assert st.st_mode & 0o777 == 0o760
    if os.geteuid() == 0:
        assert (st.st_uid, st.st_gid) == (65534, 65534)


RPC_BODY = xmlrpc.client.dumps((), "supervisor.getAPIVersion").encode()

BAD_CREDENTIALS = [
    None,  # no header at all
    "",
    "Basic",
    "Basic ",
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),  # 4.3: HTTP 500
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
    "Bearer " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode(),
    basic(USER, "wrong"),
    basic("someone", SECRET),
    basic(USER, ""),
    basic(USER, SECRET + "x"),
]


@pytest.mark.parametrize("path", ["/RPC2", "/logtail/cat", "/logtail/cat/stderr", "/mainlogtail"])
def test_bad_credentials_get_401_on_every_route(secured: Daemon, path: str) -> None:
    method, body = ("POST", RPC_BODY) if path == "/RPC2" else ("GET", b"")
    for auth in BAD_CREDENTIALS:
        conn = UnixHTTPConnection(secured.sock, timeout=5)
        try:
            resp = request(conn, method, path, auth, body)
            assert resp.status == 401, (auth, resp.status)
            assert resp.getheader("WWW-Authenticate") == 'Basic realm="default"'
            assert resp.getheader("Connection") == "close"
            resp.read()
        finally:
            conn.close()


def test_sha_password_on_unix_and_plain_password_on_inet(secured: Daemon) -> None:
    port = secured.port  # type: ignore[attr-defined]
    digest = hashlib.sha1(SECRET.encode()).hexdigest()
    for conn, good, bad in (
        (UnixHTTPConnection(secured.sock, timeout=5), SECRET, "{SHA}" + digest),
        (http.client.HTTPConnection("127.0.0.1", port, timeout=5), INET_SECRET, SECRET),
    ):
        try:
            resp = request(conn, "POST", "/RPC2", basic(USER, good), RPC_BODY)
            assert resp.status == 200, (conn, good)
            assert xmlrpc.client.loads(resp.read())[0] == ("3.0",)
            # The stored hash itself is not a password; nor is the other server's.
            resp = request(conn, "POST", "/RPC2", basic(USER, bad), RPC_BODY)
            assert resp.status == 401
            resp.read()
        finally:
            conn.close()


def ctl_argv(tool: str, d: Daemon) -> list[str]:
    if tool == "corralctl":
        return [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf)]
    if SUPERVISORCTL is None:
        missing_test_extra("supervisorctl (supervisor 4.3)")
    return [SUPERVISORCTL, "-c", str(d.conf)]


def test_ctl_with_a_wrong_password_says_so(secured: Daemon) -> None:
    """corralctl says the server wants credentials and exits 1, as supervisorctl 4.3 does,
    without 4.3's second line (its internal `error: <class ...>: file: ...` report)."""
    runs = {}
    for tool in ("supervisorctl", "corralctl"):
        runs[tool] = subprocess.run(
            [*ctl_argv(tool, secured), "-p", "wrong", "status"],
            capture_output=True,
            text=True,
            env=env_for_children(),
            timeout=30,
        )
    real, ours = runs["supervisorctl"], runs["corralctl"]
    assert real.stdout.splitlines()[0] == "Server requires authentication"
    assert "401 Unauthorized" in real.stdout.splitlines()[1]
    assert ours.stdout == "Server requires authentication\n"
    assert "Traceback" not in ours.stderr
    assert ours.returncode == real.returncode == 1


class Follower:
    """A `tail -f` / `maintail -f` run: its output is read as it comes, then it is interrupted."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env_for_children()
        )
        assert self.proc.stdout is not None
        self.out = self.proc.stdout
        self.seen = b""

    def expect(self, text: bytes, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r} in {self.seen!r}"
            if select.select([self.out], [], [], left)[0]:
                chunk = os.read(self.out.fileno(), 65536)
                assert chunk, f"ended before {text!r}: {self.seen!r}"
                self.seen += chunk

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(15)
        finally:
            self.out.close()


def follow_case(
    d: Daemon, tool: str, args: list[str], before: bytes, make_more: Callable[[], None], more: bytes
) -> None:
    f = Follower([*ctl_argv(tool, d), *args])
    try:
        f.expect(before)
        make_more()
        f.expect(more)
    finally:
        if f.proc.poll() is None:
            f.stop()


@pytest.mark.parametrize("tool", ["corralctl", "supervisorctl"])
def test_tail_f_follows_stdout_and_stderr(secured: Daemon, tool: str) -> None:
    rpc = xmlrpc.client.ServerProxy(
        f"http://{USER}:{INET_SECRET}@127.0.0.1:{secured.port}/RPC2"  # type: ignore[attr-defined]
    )
    with rpc:
        rpc.supervisor.sendProcessStdin("cat", f"out one {tool}\n")
        rpc.supervisor.sendProcessStdin("errcat", f"err one {tool}\n")
        follow_case(
            secured,
            tool,
            ["tail", "-f", "cat"],
            f"out one {tool}\n".encode(),
            lambda: rpc.supervisor.sendProcessStdin("cat", f"out two {tool}\n"),
            f"out two {tool}\n".encode(),
        )
        follow_case(
            secured,
            tool,
            ["tail", "-f", "errcat", "stderr"],
            f"err one {tool}\n".encode(),
            lambda: rpc.supervisor.sendProcessStdin("errcat", f"err two {tool}\n"),
            f"err two {tool}\n".encode(),
        )


@pytest.mark.parametrize("tool", ["corralctl", "supervisorctl"])
def test_maintail_f_follows_the_main_log(secured: Daemon, tool: str) -> None:
    rpc = xmlrpc.client.ServerProxy(
        f"http://{USER}:{INET_SECRET}@127.0.0.1:{secured.port}/RPC2"  # type: ignore[attr-defined]
    )
    with rpc:
        follow_case(
            secured,
            tool,
            ["maintail", "-f"],
            b"success: cat entered RUNNING state",
            lambda: rpc.supervisor.startProcess("idle"),
            b"spawned: 'idle' with pid",
        )
        rpc.supervisor.stopProcess("idle")
