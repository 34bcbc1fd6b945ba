"""[fcgi-program:x]: the socket corrald binds (owner, mode, backlog), fd 0 of every process,
and a socket that cannot be bound refused at start-up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Daemon, run_corrald, wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"


def listen_backlog(*filters: str) -> int:
    """The accept-queue length the kernel reports for a listening socket (ss's Send-Q)."""
    out = subprocess.run(["ss", "-lnH", *filters], capture_output=True, text=True).stdout
    fields = out.split()
    return int(fields[fields.index("LISTEN") + 2])


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss to read the listen backlog")
def test_unix_socket_backlog_and_fd0(daemon, tmp_path):
    path = tmp_path / "app.sock"
    d = daemon(f"""
[fcgi-program:app]
command={PY} {FIX}/fcgi_echo.py
socket=unix://{path}
socket_backlog=17
startsecs=0
stdout_logfile={tmp_path}/app.log
""")
    pid = d.wait_state("app", "RUNNING")["pid"]
    assert listen_backlog("-x", "src", str(path)) == 17
    assert oct(path.stat().st_mode & 0o777) == "0o700"  # socket_mode's default
    # fd 0 is the listening socket, not a pipe: stdin is not available
    # (startsecs=0: RUNNING can come before the child's first line reaches the log)
    log = wait_until(lambda: (tmp_path / "app.log").read_text(), what="the child's first line")
    assert log.startswith("fd0 family=AF_UNIX")
    with socket.socket(socket.AF_UNIX) as c:
        c.connect(str(path))
        assert c.recv(100) == f"fcgi:{pid}\n".encode()


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss to read the listen backlog")
def test_tcp_socket_backlog(daemon):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = daemon(f"""
[fcgi-program:tcp]
command={PY} {FIX}/fcgi_echo.py
socket=tcp://127.0.0.1:{port}
socket_backlog=23
startsecs=0
""")
    d.wait_state("tcp", "RUNNING")
    assert listen_backlog("-t", f"sport = :{port}") == 23


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_socket_owner_and_mode(daemon, tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    owned, as_user = tmp_path / "owned.sock", tmp_path / "user.sock"
    d = daemon(f"""
[fcgi-program:owned]
command={PY} {FIX}/fcgi_echo.py
socket=unix://{owned}
socket_owner=nobody
socket_mode=0660
startsecs=0

[fcgi-program:asuser]
command=/bin/sleep 100
socket=unix://{as_user}
user=nobody
directory=/
startsecs=0
""")
    d.wait_state("owned", "RUNNING")
    d.wait_state("asuser", "RUNNING")
    st = owned.stat()
    assert (st.st_uid, oct(st.st_mode & 0o777)) == (nobody.pw_uid, "0o660")
    # without socket_owner, a program's user owns its socket so it can use it
    st = as_user.stat()
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)


def test_a_socket_that_cannot_be_bound_is_refused_at_start_up(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = Daemon(
            tmp_path,
            f"[fcgi-program:f]\ncommand={PY} {FIX}/fcgi_echo.py\nsocket=tcp://127.0.0.1:{port}\n"
            "[program:other]\ncommand=/bin/sleep 100\n",
        )
        result = run_corrald("-n", "-c", str(d.conf))
    assert result.returncode == 2
    assert f"Error: Could not create FastCGI socket tcp://127.0.0.1:{port}: " in result.stderr
    assert "Address already in use" in result.stderr
    # nothing was started
    assert "spawned:" not in d.log()
