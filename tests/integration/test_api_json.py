"""/api/v1 (JSON and Server-Sent Events), /metrics and corralctl's --json against a real
corrald, over a unix socket and an authenticated loopback inet server."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from corral.server.openapi import PATHS
from tests.support import Daemon, UnixHTTPConnection, env_for_children, free_port, wait_until

PROGRAMS = """\
[program:web]
command=/bin/sh -c 'echo hello from web; exec sleep 1000'
process_name=%(program_name)s_%(process_num)d
numprocs=2
startsecs=0

[program:once]
command=/bin/sh -c 'exit 3'
startsecs=0
autorestart=false
exitcodes=0

[program:idle]
command=/bin/sleep 1000
autostart=false
autorestart=false
"""
AUTH = ("alice", "s3cret")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    tmp = tmp_path
    port = free_port()
    d = Daemon(
        tmp,
        PROGRAMS,
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\nusername={AUTH[0]}\npassword={AUTH[1]}\n",
    )
    d.port = port  # type: ignore[attr-defined]
    d.start()
    wait_until(lambda: d.info("once")["statename"] == "EXITED", what="once exited")
    yield d
    d.cleanup()


def request(
    d: Daemon,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    *,
    inet: bool = False,
    auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn: http.client.HTTPConnection
    if inet:
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=30)  # type: ignore[attr-defined]
    else:
        conn = UnixHTTPConnection(d.sock)
    hdrs = dict(headers or {})
    if auth is not None:
        hdrs["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def get_json(d: Daemon, path: str, **kw: Any) -> tuple[int, Any]:
    status, headers, body = request(d, "GET", path, **kw)
    assert headers["content-type"] == "application/json", (status, body)
    return status, json.loads(body)


def post(d: Daemon, path: str, value: object | None = None) -> tuple[int, Any]:
    body = json.dumps(value or {}).encode()
    status, _, data = request(d, "POST", path, body, {"Content-Type": "application/json"})
    return status, json.loads(data)


def test_processes_are_corrals_process_info(daemon: Daemon) -> None:
    status, doc = get_json(daemon, "/api/v1/processes")
    assert status == 200
    rpc = daemon.rpc.corral.getAllProcessInfo()

    def steady(infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in i.items() if k not in ("now", "description")} for i in infos]

    assert steady(doc["processes"]) == steady(rpc)
    names = [(p["group"], p["name"], p["statename"]) for p in doc["processes"]]
    assert names == [
        ("idle", "idle", "STOPPED"),
        ("once", "once", "EXITED"),
        ("web", "web_0", "RUNNING"),
        ("web", "web_1", "RUNNING"),
    ]
    status, one = get_json(daemon, "/api/v1/processes/web:web_0")
    assert status == 200 and one["pid"] > 0 and "ready" in one and "restarts" in one


@pytest.mark.parametrize(
    ("path", "status", "name"),
    [
        ("/api/v1/processes/nosuch", 404, "BAD_NAME"),
        ("/api/v1/processes/web:nosuch/log", 404, "BAD_NAME"),
        ("/api/v1/nosuch", 404, "UNKNOWN_METHOD"),
        ("/api/v1/processes/web:web_0/log?channel=other", 400, "BAD_ARGUMENTS"),
        ("/api/v1/processes/web:web_0/log?offset=x", 400, "BAD_ARGUMENTS"),
    ],
)
def test_errors_carry_the_fault_code(daemon: Daemon, path: str, status: int, name: str) -> None:
    got, doc = get_json(daemon, path)
    assert got == status
    assert doc["error"]["name"] == name and isinstance(doc["error"]["code"], int)
    assert doc["error"]["message"]


def test_actions_and_their_conflicts(daemon: Daemon) -> None:
    status, doc = post(daemon, "/api/v1/processes/idle/start")
    assert status == 200 and doc["ok"] and doc["process"]["statename"] == "RUNNING"
    status, doc = post(daemon, "/api/v1/processes/idle/start")
    assert status == 409 and doc["error"]["name"] == "ALREADY_STARTED"
    pid = doc and daemon.info("idle")["pid"]
    status, doc = post(daemon, "/api/v1/processes/idle/restart")
    assert status == 200 and doc["process"]["pid"] not in (0, pid)
    status, doc = post(daemon, "/api/v1/processes/idle/signal", {"signal": "TERM"})
    assert status == 200
    daemon.wait_state("idle", "EXITED")
    status, doc = post(daemon, "/api/v1/processes/idle/stop")
    assert status == 409 and doc["error"]["name"] == "NOT_RUNNING"
    status, doc = post(daemon, "/api/v1/processes/idle/signal", {"sig": 1})
    assert status == 400
    status, doc = post(daemon, "/api/v1/processes/idle/signal", {"signal": "NOPE"})
    assert status == 400 and doc["error"]["name"] == "BAD_SIGNAL"


def test_a_post_must_be_json(daemon: Daemon) -> None:
    """A cross-site HTML form cannot send application/json: nothing happens."""
    before = daemon.info("web:web_0")["pid"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = request(daemon, "POST", "/api/v1/processes/web:web_0/restart", b"", form)
    assert status == 415 and json.loads(body)["error"]["name"] == "BAD_ARGUMENTS"
    status, _, body = request(
        daemon,
        "POST",
        "/api/v1/processes/web:web_0/restart",
        b"{",
        {"Content-Type": "application/json"},
    )
    assert status == 400
    assert daemon.info("web:web_0")["pid"] == before


def test_log_reads_the_process_log(daemon: Daemon) -> None:
    wait_until(
        lambda: "hello from web" in get_json(daemon, "/api/v1/processes/web:web_1/log")[1]["text"],
        what="the log line",
    )
    _, doc = get_json(daemon, "/api/v1/processes/web:web_1/log?channel=stdout&offset=0&length=5")
    assert doc["overflow"] is True and len(doc["text"]) == 5 and doc["offset"] > 0


def test_inet_api_needs_credentials(daemon: Daemon) -> None:
    status, _, _ = request(daemon, "GET", "/api/v1/processes", inet=True)
    assert status == 401
    status, _, _ = request(daemon, "GET", "/metrics", inet=True)
    assert status == 401
    status, _, body = request(daemon, "GET", "/api/v1/processes", inet=True, auth=AUTH)
    assert status == 200 and len(json.loads(body)["processes"]) == 4
    status, _, _ = request(daemon, "GET", "/api/v1/processes", inet=True, auth=("alice", "no"))
    assert status == 401


def test_openapi_describes_every_route(daemon: Daemon) -> None:
    status, doc = get_json(daemon, "/api/v1/openapi.json")
    assert (
        status == 200 and doc["openapi"].startswith("3.1") and doc["paths"].keys() == PATHS.keys()
    )
    for path, ops in doc["paths"].items():
        concrete = path.replace("{name}", "web:web_0").replace("{action}", "start")
        for method in ops:
            if path.endswith(("/events", "/shutdown")):  # a stream; the end (tested below)
                continue  # a stream: tested below
            if method == "get":
                got, body = get_json(daemon, concrete)
            else:
                got, body = post(daemon, concrete, {"signal": "CONT"} if "signal" in path else None)
            # routed: whatever the answer, not 'no such route'
            assert got in map(int, ops[method]["responses"]), (path, got, body)
            assert not (got == 404 and body.get("error", {}).get("name") == "UNKNOWN_METHOD"), path
    all_running = wait_until(
        lambda: all(
            i["statename"] == "RUNNING"
            for i in daemon.rpc.supervisor.getAllProcessInfo()
            if i["group"] == "web"
        ),
        what="web back",
    )
    assert all_running


def _events(
    d: Daemon, last: str | None, stop: threading.Event, into: list[str], query: str = ""
) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(d.sock)
    extra = f"Last-Event-ID: {last}\r\n" if last else ""
    sock.sendall(f"GET /api/v1/events{query} HTTP/1.0\r\nHost: x\r\n{extra}\r\n".encode())
    sock.settimeout(0.1)
    buf = b""
    try:
        while not stop.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            buf += chunk
            into[:] = [buf.decode("utf-8", "replace")]
    finally:
        sock.close()


def _ids(text: str) -> list[int]:
    return [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")]


def test_events_push_state_changes_and_replay_after_reconnect(daemon: Daemon) -> None:
    got: list[str] = [""]
    stop = threading.Event()
    reader = threading.Thread(target=_events, args=(daemon, None, stop, got))
    reader.start()
    try:
        wait_until(lambda: "retry:" in got[0], what="the stream to open")
        daemon.rpc.supervisor.stopProcess("web:web_0")
        wait_until(lambda: '"to":"STOPPED"' in got[0], what="the STOPPED event")
    finally:
        stop.set()
        reader.join()
    first = got[0]
    assert "text/event-stream" in first
    seen = _ids(first)
    assert seen and '"name":"web:web_0","group":"web","process":"web_0","from":"RUNNING"' in first
    # while nobody listens: a start; a client that comes back with its last id gets it
    daemon.rpc.supervisor.startProcess("web:web_0")
    got2: list[str] = [""]
    stop2 = threading.Event()
    again = threading.Thread(target=_events, args=(daemon, str(seen[-1]), stop2, got2))
    again.start()
    try:
        wait_until(lambda: '"to":"RUNNING"' in got2[0], what="the missed events")
    finally:
        stop2.set()
        again.join()
    replayed = _ids(got2[0])
    assert replayed and replayed[0] == seen[-1] + 1 and replayed == sorted(replayed)
    assert '"from":"STOPPED","to":"STARTING"' in got2[0]


def test_events_carry_a_processs_log_lines_when_asked(daemon: Daemon) -> None:
    got: list[str] = [""]
    stop = threading.Event()
    args = (daemon, None, stop, got, "?log=web:web_0")
    reader = threading.Thread(target=_events, args=args)
    reader.start()
    try:
        wait_until(lambda: "retry:" in got[0], what="the stream to open")
        daemon.rpc.supervisor.stopProcess("web:web_0")
        daemon.rpc.supervisor.startProcess("web:web_0")
        wait_until(lambda: "event: log" in got[0], what="a log event")
    finally:
        stop.set()
        reader.join()
    frames = [f for f in got[0].split("\n\n") if f.startswith("event: log")]
    data = json.loads(frames[0].split("data: ", 1)[1])
    assert data == {"name": "web:web_0", "channel": "stdout", "text": "hello from web\n"}


def test_metrics_parse_and_match_the_states(daemon: Daemon) -> None:
    status, headers, body = request(daemon, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}

    samples = [s for f in families.values() for s in f.samples]

    def value(series: str, /, **labels: str) -> float:
        for s in samples:
            if s.name == series and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise KeyError((series, labels))

    assert value("node_supervisord_up", name="web_1", group="web") == 1
    assert value("node_supervisord_up", name="once", group="once") == 0
    assert value("node_supervisord_state", name="once") == 100  # EXITED
    assert value("node_supervisord_exit_status", name="once") == 3
    assert families["node_supervisord_start_time_seconds"].type == "counter"
    started = {s.labels["name"] for s in families["node_supervisord_start_time_seconds"].samples}
    assert "once" not in started and "web_1" in started
    assert value("supervisord_up") == 1
    assert value("supervisor_process_info", name="once", state="EXITED", exit_status="3") == 1
    assert value("supervisor_process_uptime", name="web_1") > 0
    assert value("corral_process_resident_memory_bytes", name="web_1") > 0
    assert value("corral_process_open_fds", name="web_1") >= 3
    assert value("corral_process_log_bytes_total", name="web_1") >= len("hello from web\n")
    assert value("corral_process_ready", name="web_1") == 1
    assert value("corral_resident_memory_bytes") > 1e6
    assert value("corral_rpc_requests_total", method="supervisor.getProcessInfo", outcome="ok") >= 1


def test_metrics_public_serves_metrics_without_credentials(tmp_path: Path) -> None:
    port = free_port()
    d = Daemon(
        tmp_path,
        "[program:a]\ncommand=/bin/sleep 1000\nstartsecs=0\n",
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=u\npassword=p\nmetrics_public=true\n",
    ).start()
    d.port = port  # type: ignore[attr-defined]
    try:
        status, _, body = request(d, "GET", "/metrics", inet=True)
        assert status == 200 and b'node_supervisord_up{name="a",group="a"} 1' in body
        assert request(d, "GET", "/api/v1/processes", inet=True)[0] == 401  # only /metrics
    finally:
        d.cleanup()


def ctl(d: Daemon, *args: str) -> tuple[str, int]:
    r = subprocess.run(
        [sys.executable, "-m", "corral.ctl.main", "-c", str(d.conf), *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=60,
    )
    return r.stdout + r.stderr, r.returncode


def test_ctl_json_outputs(daemon: Daemon) -> None:
    out, code = ctl(daemon, "status", "--json")
    doc = json.loads(out)
    assert [p["name"] for p in doc] == ["idle", "once", "web_0", "web_1"]
    assert "ready" in doc[0] and code == 3  # stopped ones: status's exit code, as plain
    out, code = ctl(daemon, "status", "--json", "web:*")
    assert [p["name"] for p in json.loads(out)] == ["web_0", "web_1"] and code == 0
    out, _ = ctl(daemon, "avail", "--json")
    assert {c["name"] for c in json.loads(out)} == {"idle", "once", "web_0", "web_1"}
    out, _ = ctl(daemon, "pid", "--json")
    pids = json.loads(out)
    assert pids["daemon"] == daemon.proc.pid  # type: ignore[union-attr]
    assert pids["processes"]["web:web_1"] == daemon.info("web:web_1")["pid"]
    plain, _ = ctl(daemon, "status")
    assert plain.splitlines()[0].startswith("idle ")  # the plain output is still 4.3's


def test_a_browser_post_needs_the_pages_token(daemon: Daemon) -> None:
    """A page from another site can make a browser send a JSON POST with its cached
    credentials only with CORS's blessing; the token in our own page is the second lock."""
    before = daemon.info("web:web_0")["pid"]
    hdrs = {"Content-Type": "application/json", "Origin": "http://evil.example"}
    path = "/api/v1/processes/web:web_0/restart"
    status, _, body = request(daemon, "POST", path, b"{}", hdrs)
    assert status == 403 and json.loads(body)["error"]["name"] == "BAD_ARGUMENTS"
    assert daemon.info("web:web_0")["pid"] == before
    status, _, page = request(daemon, "GET", "/")
    assert status == 200
    token = page.decode().split('name="corral-token" content="')[1].split('"')[0]
    status, _, _ = request(daemon, "POST", path, b"{}", {**hdrs, "X-Corral-Token": token})
    assert status == 200 and daemon.info("web:web_0")["pid"] != before


def test_shutdown_from_the_api(daemon: Daemon) -> None:
    status, doc = post(daemon, "/api/v1/daemon/shutdown")
    assert status == 200 and doc == {"ok": True}
    assert daemon.proc is not None and daemon.proc.wait(30) == 0


def test_exits_are_kept_per_process(daemon: Daemon) -> None:
    status, doc = get_json(daemon, "/api/v1/processes/once/exits")
    assert status == 200
    (last,) = [x for x in doc["exits"] if x["state"] == "EXITED"]
    assert last["exitstatus"] == 3 and last["expected"] is False and last["time"] > 0
    daemon.rpc.supervisor.stopProcess("web:web_0")
    _, doc = get_json(daemon, "/api/v1/processes/web:web_0/exits")
    assert doc["exits"][-1]["state"] == "STOPPED"
    assert get_json(daemon, "/api/v1/processes/nosuch/exits")[0] == 404


def test_health_changes_are_events_too(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens there: the probe fails
    d = Daemon(
        tmp_path,
        f"[program:h]\ncommand=/bin/sleep 1000\nstartsecs=0\nhealth_check=tcp:127.0.0.1:{dead}\n"
        "health_interval=0.2\nhealth_retries=1\nhealth_action=none\n",
    ).start()
    try:
        got: list[str] = [""]
        stop = threading.Event()
        reader = threading.Thread(target=_events, args=(d, None, stop, got))
        reader.start()
        try:
            wait_until(lambda: "event: health" in got[0], what="a health event")
        finally:
            stop.set()
            reader.join()
        frame = next(f for f in got[0].split("\n\n") if f.startswith("event: health"))
        data = json.loads(frame.split("data: ", 1)[1])
        assert (data["name"], data["health"]) == ("h", "unhealthy")
    finally:
        d.cleanup()
