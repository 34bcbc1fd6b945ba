"""health_check, the sd_notify watchdog, and the restart policy keys (issue 9)."""

from __future__ import annotations

import itertools
import re
import sys
import time
from pathlib import Path
from typing import Any

from tests.support import Daemon, free_port, prog, self_signed, wait_until

PY = sys.executable
ACTOR = Path(__file__).resolve().parents[1] / "fixtures" / "programs" / "ready_actor.py"


def actor(*args: object) -> str:
    return " ".join([PY, str(ACTOR), *map(str, args)])


def corral_info(d: Daemon, name: str) -> dict[str, Any]:
    info: dict[str, Any] = d.rpc.corral.getProcessInfo(name)
    return info


def spawn_times(log: str, name: str) -> list[float]:
    """Seconds of each `spawned: 'name'` line (the log's clock, millisecond resolution)."""
    out = []
    for m in re.finditer(rf"(\d\d):(\d\d):(\d\d),(\d\d\d) INFO spawned: '{name}'", log):
        h, mi, s, ms = map(int, m.groups())
        out.append(h * 3600 + mi * 60 + s + ms / 1000)
    return out


def test_a_server_answering_500_is_restarted(daemon, tmp_path: Path) -> None:
    port, sick = free_port(), tmp_path / "sick"
    d = daemon(
        prog(
            "web",
            actor("--http", port, "--sick", sick),
            ready_check=f"http://127.0.0.1:{port}/health",
            ready_interval=0.1,
            health_check=f"http://127.0.0.1:{port}/health",
            health_interval=0.2,
            health_retries=2,
        )
    )
    first = d.wait_state("web", "RUNNING", timeout=20)["pid"]
    wait_until(lambda: corral_info(d, "web")["health"] == "healthy", timeout=20, what="healthy")
    assert corral_info(d, "web")["health_detail"] == "answered 200"
    sick.touch()
    d.wait_log(
        f"unhealthy: web: http://127.0.0.1:{port}/health answered 500 (2 in a row); restarting",
        timeout=20,
    )
    sick.unlink()
    wait_until(
        lambda: (i := d.info("web"))["statename"] == "RUNNING" and i["pid"] != first,
        timeout=20,
        what="web running again with a new pid",
    )
    assert corral_info(d, "web")["restarts"] == 1


def test_an_https_server_with_a_self_signed_certificate_is_probed(daemon, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port, sick = free_port(), tmp_path / "sick"
    url = f"https://127.0.0.1:{port}/health"
    d = daemon(
        prog(
            "web",
            actor("--http", port, "--sick", sick, "--tls", f"{cert},{key}"),
            ready_check=url,
            ready_interval=0.1,
            health_check=url,
            health_interval=0.2,
            health_retries=2,
        )
    )
    d.wait_log("success: web entered RUNNING state, ready (https)", timeout=20)
    wait_until(lambda: corral_info(d, "web")["health"] == "healthy", timeout=20, what="healthy")
    assert corral_info(d, "web")["health_detail"] == "answered 200"
    sick.touch()
    d.wait_log(f"unhealthy: web: {url} answered 500 (2 in a row); restarting", timeout=20)


def test_health_action_stop_leaves_it_stopped(daemon, tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    flag.touch()
    d = daemon(
        prog(
            "w",
            "/bin/sleep 1000",
            startsecs=0,
            health_check=f"exec:test -e {flag}",
            health_interval=0.1,
            health_retries=1,
            health_action="stop",
        )
    )
    wait_until(lambda: corral_info(d, "w")["health"] == "healthy", timeout=20, what="healthy")
    flag.unlink()
    d.wait_state("w", "STOPPED", timeout=20)
    assert "unhealthy: w: exec:test" in d.log() and "(1 in a row); stopping" in d.log()
    time.sleep(0.5)  # nothing brings it back: it stays down (a state, not a window)
    assert d.info("w")["statename"] == "STOPPED"


def test_health_action_none_only_reports(daemon, tmp_path: Path) -> None:
    flag = tmp_path / "ok"
    d = daemon(
        prog(
            "w",
            "/bin/sleep 1000",
            startsecs=0,
            health_check=f"exec:test -e {flag}",
            health_interval=0.1,
            health_retries=2,
            health_action="none",
        )
    )
    pid = d.wait_state("w", "RUNNING")["pid"]
    d.wait_log("(2 in a row); no action taken", timeout=20)
    assert corral_info(d, "w")["health"] == "unhealthy"
    flag.touch()
    wait_until(lambda: corral_info(d, "w")["health"] == "healthy", timeout=20, what="healthy")
    d.wait_log("healthy: w: exec:test")
    assert d.info("w")["pid"] == pid


def test_watchdog_expiry_restarts_and_watchdog_pid_is_the_programs(daemon, tmp_path: Path) -> None:
    quiet, record = tmp_path / "quiet", tmp_path / "pids"
    d = daemon(
        prog(
            "wd",
            actor("--record", record, "--notify", "--watchdog", quiet),
            ready_check="notify",
            watchdog_sec=1,
        )
    )
    first = d.wait_state("wd", "RUNNING", timeout=20)["pid"]
    pid, wd_pid = record.read_text().split()
    assert int(pid) == first and wd_pid == pid
    wait_until(lambda: corral_info(d, "wd")["health"] == "healthy", timeout=20, what="pings")
    quiet.touch()
    d.wait_log("unhealthy: wd: no WATCHDOG=1 within 1 s; restarting", timeout=20)
    quiet.unlink()
    wait_until(
        lambda: (i := d.info("wd"))["statename"] == "RUNNING" and i["pid"] != first,
        timeout=20,
        what="wd restarted",
    )


def test_fixed_backoff_and_unlimited_retries(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog(
            "crash",
            "/bin/sh -c 'exit 1'",
            startsecs=1,
            startretries="unlimited",
            backoff=0.3,
        )
    )
    # far more tries than 4.3's default 3, and still not FATAL
    wait_until(lambda: len(spawn_times(d.log(), "crash")) >= 6, timeout=30, what="6 spawns")
    assert d.info("crash")["statename"] in ("BACKOFF", "STARTING")
    times = spawn_times(d.log(), "crash")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.29, gaps  # each retry waited the fixed delay (lower bound only)


def test_exponential_backoff_doubles(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog(
            "crash",
            "/bin/sh -c 'exit 1'",
            startsecs=1,
            startretries=3,
            backoff="exponential",
        )
    )
    d.wait_state("crash", "FATAL", timeout=30)
    times = spawn_times(d.log(), "crash")
    assert len(times) == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 1, 2, 4 s of backoff (plus the time each failed run took): each at least its delay
    for gap, delay in zip(gaps, (1, 2, 4), strict=True):
        assert gap >= delay - 0.01, gaps
    assert gaps[2] > gaps[1] > gaps[0]


def test_restart_delay_waits_before_an_autorestart(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog(
            "flap",
            "/bin/sh -c 'sleep 0.2; exit 1'",
            startsecs=0,
            autorestart="true",
            restart_delay=0.5,
        )
    )
    wait_until(lambda: len(spawn_times(d.log(), "flap")) >= 3, timeout=30, what="3 spawns")
    times = spawn_times(d.log(), "flap")
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.69, gaps  # 0.2 s of run, then 0.5 s of delay
    # a stop during the delay calls the restart off
    wait_until(lambda: d.info("flap")["statename"] == "EXITED", timeout=20, what="EXITED")
    assert d.rpc.supervisor.stopProcess("flap") is True
    assert d.info("flap")["statename"] == "STOPPED"
    count = len(spawn_times(d.log(), "flap"))
    time.sleep(1.0)  # longer than the delay: no restart comes
    assert len(spawn_times(d.log(), "flap")) == count
