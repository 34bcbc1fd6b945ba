"""[user:NAME] sections with rights against a real corrald on a loopback port: every method
(inside system.multicall too) and JSON route checks the caller's rights, a refusal has no
side effect and is logged, passwords hash as documented, failed logins are limited, and the
CVE-2017-11610 names reach nothing."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import subprocess
import sys
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.server.auth import hash_password
from tests.support import Daemon, env_for_children, free_port, wait_until

PROGRAMS = """\
[program:web]
command=/bin/sleep 1000
process_name=%(program_name)s_%(process_num)d
numprocs=2
startsecs=0

[program:other]
command=/bin/sleep 1001
startsecs=0
"""
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "dave": "dave-pw"}


def users() -> str:
    sha = hashlib.sha1(PASSWORDS["dave"].encode()).hexdigest()
    return (
        f"[user:alice]\npassword={PASSWORDS['alice']}\nrights=control\nprograms=web\n\n"
        f"[user:bob]\npassword={PASSWORDS['bob']}\n\n"
        f"[user:carol]\npassword={hash_password(PASSWORDS['carol'])}\nrights=admin\n\n"
        f"[user:dave]\npassword={{SHA}}{sha}\nrights=read\n\n"
    )


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    port = free_port()
    d = Daemon(
        tmp_path,
        PROGRAMS,
        supervisord=f"audit_logfile={tmp_path}/audit.log",
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\n\n{users()}",
    )
    d.port = port  # type: ignore[attr-defined]
    # the unix socket needs credentials too now: the harness's own client cannot wait on it
    d.start(wait=False)
    wait_until(lambda: _answers(d), timeout=15, what="corrald")
    wait_until(lambda: all_running(d), what="autostart")
    yield d
    d.cleanup()


class _OneShot(xmlrpc.client.Transport):
    """A connection per call, closed after it (no socket left for the GC to warn about)."""

    def request(self, host: Any, handler: Any, body: Any, verbose: bool = False) -> Any:
        try:
            return super().request(host, handler, body, verbose)
        finally:
            self.close()


def proxy(d: Daemon, user: str, password: str | None = None) -> Any:
    pw = PASSWORDS[user] if password is None else password
    url = f"http://{user}:{pw}@127.0.0.1:{d.port}/RPC2"  # type: ignore[attr-defined]
    return xmlrpc.client.ServerProxy(url, transport=_OneShot())


def _answers(d: Daemon) -> bool:
    try:
        proxy(d, "bob").supervisor.getState()
        return True
    except OSError:
        return False


def all_running(d: Daemon) -> bool:
    infos = proxy(d, "bob").supervisor.getAllProcessInfo()
    return len(infos) == 3 and all(i["statename"] == "RUNNING" for i in infos)


def pid(d: Daemon, name: str) -> int:
    value: int = proxy(d, "bob").supervisor.getProcessInfo(name)["pid"]
    return value


def web_request(
    d: Daemon, method: str, path: str, user: str, body: bytes | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)  # type: ignore[attr-defined]
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def denied(call: Any, *args: Any) -> str:
    with pytest.raises(xmlrpc.client.Fault) as info:
        call(*args)
    assert info.value.faultCode == 30
    text: str = info.value.faultString
    assert text.startswith("FAILED: denied: ")
    return text


def test_read_users_read_and_nothing_more(daemon: Daemon) -> None:
    for user in ("bob", "dave"):  # plain and {SHA} passwords
        srv = proxy(daemon, user).supervisor
        assert len(srv.getAllProcessInfo()) == 3
        assert srv.tailProcessStdoutLog("other", 0, 10)[1] == 0
    before = pid(daemon, "web:web_0")
    text = denied(proxy(daemon, "bob").supervisor.stopProcess, "web:web_0")
    assert text == "FAILED: denied: supervisor.stopProcess needs the control right (bob has read)"
    assert pid(daemon, "web:web_0") == before  # no side effect
    denied(proxy(daemon, "bob").supervisor.reloadConfig)
    denied(proxy(daemon, "dave").supervisor.shutdown)
    assert proxy(daemon, "bob").supervisor.getState()["statename"] == "RUNNING"


def test_control_users_control_only_their_programs(daemon: Daemon) -> None:
    srv = proxy(daemon, "alice").supervisor
    assert srv.stopProcess("web:web_0") is True
    assert srv.startProcess("web:web_0") is True
    assert [r["name"] for r in srv.stopProcessGroup("web")] == ["web_0", "web_1"]
    srv.startProcessGroup("web")
    other = pid(daemon, "other")
    assert denied(srv.stopProcess, "other").endswith("alice may not control other")
    denied(srv.stopAllProcesses)
    denied(srv.signalProcess, "other", "HUP")
    denied(srv.clearProcessLogs, "web:web_0")  # clearing logs is admin
    denied(srv.addProcessGroup, "web")
    assert pid(daemon, "other") == other


def test_multicall_checks_each_call(daemon: Daemon) -> None:
    other = pid(daemon, "other")
    results = proxy(daemon, "alice").system.multicall(
        [
            {"methodName": "supervisor.getState", "params": []},
            {"methodName": "supervisor.stopProcess", "params": ["other"]},
            {"methodName": "supervisor.stopProcess", "params": ["web:web_1"]},
        ]
    )
    assert results[0]["statename"] == "RUNNING"
    assert (
        results[1]["faultCode"] == 30 and "alice may not control other" in results[1]["faultString"]
    )
    assert results[2] is True
    assert pid(daemon, "other") == other


def test_admin_does_everything_with_a_scrypt_password(daemon: Daemon) -> None:
    srv = proxy(daemon, "carol").supervisor
    assert srv.reloadConfig() == [[[], [], []]]
    assert srv.stopAllProcesses()
    srv.startAllProcesses()


def test_json_routes_and_the_dashboard_check_rights(daemon: Daemon) -> None:
    status, body = web_request(daemon, "GET", "/api/v1/processes", "bob")
    assert status == 200 and len(json.loads(body)["processes"]) == 3
    before = pid(daemon, "web:web_0")
    status, body = web_request(daemon, "POST", "/api/v1/processes/web:web_0/restart", "bob", b"{}")
    assert status == 403 and json.loads(body)["error"]["name"] == "DENIED"
    assert pid(daemon, "web:web_0") == before
    status, body = web_request(
        daemon, "POST", "/api/v1/processes/web:web_0/restart", "alice", b"{}"
    )
    assert status == 200 and pid(daemon, "web:web_0") != before
    status, page = web_request(daemon, "GET", "/", "bob")
    assert status == 200 and b'name="corral-rights" content="read"' in page
    status, page = web_request(daemon, "GET", "/", "carol")
    assert b'name="corral-rights" content="admin"' in page
    assert web_request(daemon, "GET", "/metrics", "dave")[0] == 200


def test_changes_and_refusals_are_in_the_audit_log_without_secrets(daemon: Daemon) -> None:
    proxy(daemon, "alice").supervisor.stopProcess("web:web_1")
    denied(proxy(daemon, "bob").supervisor.stopProcess, "web:web_1")
    proxy(daemon, "alice").supervisor.sendProcessStdin("web:web_0", "a secret typed in")
    log = daemon.wait_log("audit: user=bob")
    assert "audit: user=alice source=127.0.0.1 supervisor.stopProcess('web:web_1') ok" in log
    assert (
        "audit: user=bob source=127.0.0.1 supervisor.stopProcess('web:web_1') denied: "
        "supervisor.stopProcess needs the control right (bob has read)" in log
    )
    assert "supervisor.sendProcessStdin('web:web_0', <17 characters>) ok" in log
    assert "a secret typed in" not in log
    assert "audit: user=bob source=127.0.0.1 supervisor.getAllProcessInfo" not in log  # reads
    audit = (Path(daemon.tmp) / "audit.log").read_text()  # the file has the same lines
    assert " user=alice source=127.0.0.1 supervisor.stopProcess('web:web_1') ok\n" in audit
    assert "<17 characters>" in audit and "a secret typed in" not in audit
    for password in PASSWORDS.values():
        assert password not in log


def test_cve_2017_11610_names_reach_nothing(daemon: Daemon) -> None:
    """The traversal of 4.3 < 3.3.3: a dotted name walking from the namespace object."""
    names = [
        "supervisor.supervisord.options.warnings.linecache.os.system",
        "supervisor.supervisord.options.execve",
        "supervisor._rpcinterface.__init__.__globals__",
        "supervisor.__class__",
        "system.__init__",
        "supervisor.getState.__call__",
        "__import__",
    ]
    marker = Path(daemon.tmp) / "pwned"
    for name in names:
        for user in ("carol", "bob"):
            with pytest.raises(xmlrpc.client.Fault) as info:
                getattr(proxy(daemon, user), name)(f"touch {marker}")
            assert info.value.faultCode == 1  # UNKNOWN_METHOD
        results = proxy(daemon, "carol").system.multicall(
            [{"methodName": name, "params": [f"touch {marker}"]}]
        )
        assert results[0]["faultCode"] == 1
    assert not marker.exists()


def test_bad_passwords_get_401_then_429(daemon: Daemon) -> None:
    with pytest.raises(xmlrpc.client.ProtocolError) as info:
        proxy(daemon, "bob", "wrong").supervisor.getState()
    assert info.value.errcode == 401
    for _ in range(12):
        try:
            proxy(daemon, "bob", "wrong").supervisor.getState()
        except xmlrpc.client.ProtocolError as e:
            last = e.errcode
    assert last == 429
    with pytest.raises(xmlrpc.client.ProtocolError) as info:  # the right password, too soon
        proxy(daemon, "bob").supervisor.getState()
    assert info.value.errcode == 429
    assert "10 failed logins from 127.0.0.1" in daemon.log()
    assert "wrong" not in daemon.log()


def test_hash_password_prints_a_scrypt_line() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "corral.cli", "hash-password"],
        input="s3cret\n",
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )
    assert r.returncode == 0
    line = r.stdout.strip()
    assert line.startswith("{SCRYPT}n=16384,r=8,p=1$") and line.count("$") == 2
    from corral.server.auth import password_ok

    assert password_ok(line, "s3cret") and not password_ok(line, "s3cret ")
    assert hash_password("x") != hash_password("x")  # salted
