"""corrald serves XML-RPC without xmlrpc.client, http.client or email ever loaded (~1.9 MiB)."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path

import pytest

from tests.support import Daemon, UnixHTTPConnection, prog

# (the `http` package itself, an enum of status phrases, the server does use)
ABSENT = ("xmlrpc", "http.client", "email")


def post(sock: str, body: bytes) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(sock)
    try:
        conn.request("POST", "/RPC2", body, {"Content-Type": "text/xml"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_a_serving_corrald_never_imports_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # -X importtime's record (on corrald's stderr) names every module the process ever
    # imported, including those imported late, while answering.
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    daemon = Daemon(tmp_path, prog("app", "sleep 1000")).start()
    try:
        calls = [
            ("supervisor.getAllProcessInfo", ()),
            ("supervisor.getProcessInfo", ("nosuch",)),  # a fault
            ("system.multicall", ([{"methodName": "supervisor.getState", "params": []}],)),
            ("supervisor.readLog", (0, 100)),
            ("supervisor.getProcessInfo", (xmlrpc.client.Binary(b"app"),)),
            ("supervisor.getProcessInfo", (xmlrpc.client.DateTime(0),)),
        ]
        answers = [post(daemon.sock, xmlrpc.client.dumps(p, m).encode()) for m, p in calls]
        assert [status for status, _ in answers] == [200] * len(calls)
        assert xmlrpc.client.loads(answers[0][1])[0][0][0]["name"] == "app"
        with pytest.raises(xmlrpc.client.Fault, match="BAD_NAME: nosuch"):
            xmlrpc.client.loads(answers[1][1])
        assert xmlrpc.client.loads(answers[4][1])[0][0]["name"] == "app"  # base64 read as text
        assert post(daemon.sock, b"<methodCall/>")[0] == 400
    finally:
        assert daemon.stop() == 0
    imported = {
        line.rpartition("|")[2].strip()
        for line in daemon.stderr().splitlines()
        if line.startswith("import time:")
    }
    assert {"corral.api.dispatch", "corral.wire.xmlrpc", "corral.server.http"} <= imported
    assert sorted(m for m in imported if m.startswith(ABSENT)) == []
