"""The web scenario (issue 12), 500 running programs:

- a Prometheus scrape: corral's /metrics (everything per process, CPU and memory read from
  /proc) against what an exporter must ask supervisord for on each scrape
  (getAllProcessInfo over XML-RPC); wall time and the daemon's CPU per scrape;
- event latency: a state change to its Server-Sent Event in a client (corral only: 4.3 has
  no event stream), the daemon's time stamp of the change against the client's arrival;
- the dashboard's first paint with 500 rows in Chromium (corral), beside 4.3's own page at /
  (supervisord): navigation start to the table drawn.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import time

from . import procstat
from .daemon import PROGRAMS, Daemon, program, write_config
from .scenarios import Metrics, _fresh
from .systems import System

N = 500
SCRAPES = 30
CHANGES = 60
_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _get(sock_path: str, path: str) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
    data = b""
    while chunk := s.recv(1 << 16):
        data += chunk
    s.close()
    return data


def _scrapes(d: Daemon, is_corral: bool) -> Metrics:
    rpc = d.rpc().supervisor
    walls = []
    cpu0 = procstat.cpu_ns(d.pid)
    for _ in range(SCRAPES):
        t0 = time.perf_counter()
        if is_corral:
            body = _get(d.sock, "/metrics")
            assert b"node_supervisord_up" in body
        else:
            assert len(rpc.getAllProcessInfo()) == N
        walls.append(time.perf_counter() - t0)
    cpu = (procstat.cpu_ns(d.pid) - cpu0) / 1e9
    return {
        "web.scrape.p50_ms": 1000 * statistics.median(walls),
        "web.scrape.cpu_ms": 1000 * cpu / SCRAPES,
    }


def _latency(d: Daemon) -> Metrics:
    """Stop and start p0000 CHANGES times; each state event's delay to this client."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(d.sock)
    s.sendall(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
    s.settimeout(10)
    buf = b""
    while b"retry:" not in buf:
        buf += s.recv(1 << 16)
    rpc = d.rpc().supervisor
    delays: list[float] = []
    buf = b""
    for i in range(CHANGES):
        (rpc.stopProcess if i % 2 == 0 else rpc.startProcess)("p0000", False)
        seen = 0  # two events each way: ->STOPPING->STOPPED, ->STARTING->RUNNING
        while seen < 2:
            while b"\n\n" not in buf:
                buf += s.recv(1 << 16)
            frame, _, buf = buf.partition(b"\n\n")
            arrived = time.time()
            for line in frame.split(b"\n"):
                if line.startswith(b"data: ") and b'"to"' in line:
                    event = json.loads(line[6:])
                    delays.append(arrived - event["time"])
                    seen += 1
    s.close()
    delays.sort()
    return {
        "web.event.p50_ms": 1000 * statistics.median(delays),
        "web.event.p95_ms": 1000 * delays[int(len(delays) * 0.95) - 1],
    }


def _first_paint(port: int, is_corral: bool) -> Metrics:
    chromium = shutil.which("chromium")
    if chromium is None:
        return {}
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=_ARGS)
        try:
            times = []
            for _ in range(3):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/")
                # corral: the 500th row drawn from the JSON; 4.3: its server-rendered table
                if is_corral:
                    page.wait_for_selector("#rows tr[data-name='p0499']")
                else:
                    page.wait_for_selector("text=p0499")
                times.append(time.perf_counter() - t0)
                page.close()
        finally:
            browser.close()
    return {"web.first_paint_ms": 1000 * statistics.median(times)}


def web(system: System, workdir: str) -> Metrics:
    if system.name == "corral-before":
        return {}  # an older tree: no /metrics or dashboard to compare
    _fresh(workdir)
    is_corral = system.name.startswith("corral")
    idle = os.path.join(PROGRAMS, "idle.sh")
    progs = [
        program(f"p{i:04d}", idle, startsecs=0, stdout_logfile="NONE", stderr_logfile="NONE")
        for i in range(N)
    ]
    conf = write_config(workdir, progs)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(conf, "a") as f:
        f.write(f"\n[inet_http_server]\nport=127.0.0.1:{port}\n")
    d = Daemon(system, workdir, conf)
    d.start()
    out: Metrics = {}
    try:
        d.wait_rpc()
        rpc = d.rpc().supervisor
        deadline = time.monotonic() + 120
        while sum(i["statename"] == "RUNNING" for i in rpc.getAllProcessInfo()) < N:
            assert time.monotonic() < deadline, "not all RUNNING"
            time.sleep(0.2)
        out.update(_scrapes(d, is_corral))
        if is_corral:
            out.update(_latency(d))
        out.update(_first_paint(port, is_corral))
    finally:
        d.terminate_timed(60)
    return out
