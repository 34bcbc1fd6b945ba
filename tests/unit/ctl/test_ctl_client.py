"""corralctl's own HTTP/XML-RPC client: what it sends, how it reads answers (length, chunked,
close), its errors (the standard library's classes), and what a `status` run imports."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import xmlrpc.client
import xmlrpc.server
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.ctl import client

SRC = str(Path(__file__).resolve().parents[3] / "src")


class CannedServer:
    """A unix-socket server answering each request on a connection with the next canned
    response; records the raw requests. `drop_after` closes a connection after N answers."""

    def __init__(self, path: str, answers: list[bytes], drop_after: int | None = None) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.drop_after = drop_after
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                served = 0
                buffer = b""
                while self.answers and (self.drop_after is None or served < self.drop_after):
                    while b"\r\n\r\n" not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buffer += data
                    if b"\r\n\r\n" not in buffer:
                        break
                    head, _, rest = buffer.partition(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    self.requests.append(head + b"\r\n\r\n" + rest[:length])
                    buffer = rest[length:]
                    conn.sendall(self.answers.pop(0))
                    served += 1

    def close(self) -> None:
        self.sock.close()


def ok(value: object, *, chunked: bool = False, close: bool = False) -> bytes:
    body = xmlrpc.client.dumps((value,), methodresponse=True).encode()
    head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
    if close:
        head += "Connection: close\r\n"
    if chunked:
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(body[i : i + 7]), body[i : i + 7])
            for i in range(0, len(body), 7)
        )
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.fixture
def sock_path(tmp_path: Path) -> Iterator[str]:
    yield str(tmp_path / "s.sock")


def test_calls_share_one_connection_and_read_length_and_chunked_bodies(sock_path: str) -> None:
    server = CannedServer(sock_path, [ok("3.0"), ok([{"name": "a"}], chunked=True), ok(True)])
    proxy = client.make_proxy(f"unix://{sock_path}", "user", "pw")
    assert proxy.supervisor.getVersion() == "3.0"
    assert proxy.supervisor.getAllProcessInfo() == [{"name": "a"}]
    assert proxy.supervisor.startProcess("a", False) is True
    proxy("close")()
    server.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\n")
    assert b"\r\nAuthorization: Basic dXNlcjpwdw==\r\n" in first  # user:pw
    assert first.endswith(xmlrpc.client.dumps((), "supervisor.getVersion").encode())
    assert server.requests[2].endswith(
        xmlrpc.client.dumps(("a", False), "supervisor.startProcess").encode()
    )


def test_no_auth_header_unless_both_name_and_password(sock_path: str) -> None:
    server = CannedServer(sock_path, [ok("3.0")])
    proxy = client.make_proxy(f"unix://{sock_path}", "user", None)
    proxy.supervisor.getVersion()
    proxy("close")()
    server.close()
    assert b"Authorization" not in server.requests[0]


def test_a_dropped_idle_connection_is_redialled_once(sock_path: str) -> None:
    server = CannedServer(sock_path, [ok(1), ok(2)], drop_after=1)
    proxy = client.make_proxy(f"unix://{sock_path}", None, None)
    assert proxy.supervisor.getPID() == 1
    assert proxy.supervisor.getPID() == 2
    proxy("close")()
    server.close()
    assert server.connections == 2


def test_connection_close_is_honoured(sock_path: str) -> None:
    server = CannedServer(sock_path, [ok(1, close=True), ok(2)], drop_after=1)
    proxy = client.make_proxy(f"unix://{sock_path}", None, None)
    assert [proxy.supervisor.getPID(), proxy.supervisor.getPID()] == [1, 2]
    proxy("close")()
    server.close()


def test_http_errors_and_faults_are_the_standard_librarys(sock_path: str) -> None:
    fault = xmlrpc.client.dumps(xmlrpc.client.Fault(10, "BAD_NAME: x")).encode()
    answers = [
        b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(fault), fault),
    ]
    server = CannedServer(sock_path, answers)
    proxy = client.make_proxy(f"unix://{sock_path}", None, None)
    with pytest.raises(client.ProtocolError) as info:
        proxy.supervisor.getVersion()
    assert info.type is xmlrpc.client.ProtocolError
    assert repr(info.value) == "<ProtocolError for 127.0.0.1/RPC2: 401 Unauthorized>"
    with pytest.raises(client.Fault) as fault_info:
        proxy.supervisor.getProcessInfo("x")
    assert fault_info.type is xmlrpc.client.Fault
    assert fault_info.value.faultString == "BAD_NAME: x"
    proxy("close")()
    server.close()


def test_missing_socket_and_refused_port_raise_oserrors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        client.make_proxy(f"unix://{tmp_path}/none.sock", None, None).supervisor.getVersion()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        client.make_proxy(f"http://127.0.0.1:{port}", None, None).supervisor.getVersion()
    with pytest.raises(ValueError, match="Unknown protocol for serverurl ftp://x"):
        client.make_proxy("ftp://x", None, None)


HEAVY = (
    "dataclasses", "inspect", "typing", "xmlrpc", "http", "email", "ssl",
    "decimal", "urllib", "threading", "corral.config.model", "corral.config.options",
    "corral.config.build", "corral.config.convert",
)  # fmt: skip


def test_a_status_run_loads_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """The import path is corralctl's start-up time: a whole `status` stays off these
    (and needs nothing outside the standard library: site-packages is not on the path)."""
    sock = str(tmp_path / "s.sock")
    info = {"name": "app", "group": "app", "state": 20, "statename": "RUNNING",
            "description": "pid 7, uptime 0:00:01"}  # fmt: skip
    server = CannedServer(sock, [ok("3.0"), ok([info])])
    conf = tmp_path / "ctl.conf"
    conf.write_text(f"[supervisorctl]\nserverurl=unix://{sock}\n")
    code = (
        "import sys\n"
        "from corral.ctl.main import main\n"
        "rc = main(['-c', sys.argv[1], 'status'])\n"
        f"heavy = sorted(m for m in sys.modules if m.startswith({HEAVY!r}))\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, str(conf)],  # -S: no site .pth imports, no site-packages
        capture_output=True,
        text=True,
        env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"},
        timeout=30,
    )
    server.close()
    lines = out.stdout.splitlines()
    assert lines[0].startswith("app                              RUNNING   pid 7"), out
    assert lines[-1] == "0 []", out.stdout + out.stderr
