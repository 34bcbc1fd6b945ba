"""ready_check: STARTING until a real readiness signal, then RUNNING (issue 9).

Each program is told when to get ready by a trigger file the test creates, so the test can
see it waiting first (no timing windows: a condition ends every wait).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port, prog, wait_until

PY = sys.executable
ACTOR = Path(__file__).resolve().parents[1] / "fixtures" / "programs" / "ready_actor.py"


def actor(*args: object) -> str:
    return " ".join([PY, str(ACTOR), *map(str, args)])


def corral_info(d: Any, name: str) -> dict[str, Any]:
    info: dict[str, Any] = d.rpc.corral.getProcessInfo(name)
    return info


def starting_then_running(d: Any, name: str, trigger: Path, how: str) -> dict[str, Any]:
    """The program waits in STARTING (long past startsecs) until the trigger, then RUNNING."""
    d.wait_log(f"spawned: '{name}'")
    info = d.info(name)
    assert info["statename"] == "STARTING" and info["pid"] > 0
    assert corral_info(d, name)["ready"] is False
    trigger.touch()
    running = d.wait_state(name, "RUNNING", timeout=20)
    d.wait_log(f"success: {name} entered RUNNING state, ready ({how})")
    assert corral_info(d, name)["ready"] is True
    return running


def test_notify_from_a_python_program_with_status(daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    d = daemon(
        prog(
            "db",
            actor("--status", "'loading tables'", "--until", go, "--notify"),
            ready_check="notify",
            startsecs=0,
        )
    )
    wait_until(
        lambda: d.info("db")["description"] == "loading tables", timeout=20, what="STATUS shown"
    )
    assert corral_info(d, "db")["notify_status"] == "loading tables"
    assert corral_info(d, "db")["ready_check"] == "notify"
    starting_then_running(d, "db", go, "notify")
    # 4.3's RUNNING description is back once running
    assert d.info("db")["description"].startswith("pid ")


def test_notify_from_the_real_systemd_notify_run_by_a_shell(daemon, tmp_path: Path) -> None:
    if shutil.which("systemd-notify") is None:
        pytest.fail("systemd-notify is missing: install Debian's systemd package (.ci/run does)")
    go = tmp_path / "go"
    script = tmp_path / "svc.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"while [ ! -e {go} ]; do sleep 0.02; done\n"
        "systemd-notify --ready --status='serving'\n"
        "exec sleep 1000\n"
    )
    script.chmod(0o755)
    d = daemon(prog("svc", str(script), ready_check="notify"))
    starting_then_running(d, "svc", go, "notify")
    assert corral_info(d, "svc")["notify_status"] == "serving"


def test_fd_notification(daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    d = daemon(prog("s6", actor("--until", go, "--fd", 3), ready_check="fd:3", startsecs=0))
    starting_then_running(d, "s6", go, "fd")


@pytest.mark.parametrize("logfile", ["AUTO", "NONE"])
def test_log_line_matching(daemon, tmp_path: Path, logfile: str) -> None:
    go = tmp_path / "go"
    d = daemon(
        prog(
            "web",
            actor("--until", go, "--say", "'listening on port 8080'"),
            ready_check=r"log:listening on port \d+",
            stdout_logfile=logfile,
        )
    )
    starting_then_running(d, "web", go, "log")


def test_tcp_probe_of_a_server_that_comes_up_late(daemon, tmp_path: Path) -> None:
    go, port = tmp_path / "go", free_port()
    d = daemon(
        prog(
            "pg",
            actor("--until", go, "--tcp", port),
            ready_check=f"tcp:127.0.0.1:{port}",
            ready_interval=0.1,
        )
    )
    wait_until(
        lambda: corral_info(d, "pg")["ready"] is False and d.info("pg")["statename"] == "STARTING",
        timeout=20,
        what="pg STARTING",
    )
    starting_then_running(d, "pg", go, "tcp")


def test_http_probe_waits_for_a_2xx(daemon, tmp_path: Path) -> None:
    go, port = tmp_path / "go", free_port()
    d = daemon(
        prog(
            "api",
            actor("--until", go, "--http", port),
            ready_check=f"http://127.0.0.1:{port}/health",
            ready_interval=0.1,
        )
    )
    starting_then_running(d, "api", go, "http")


def test_exec_probe_runs_in_the_programs_directory(daemon, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    d = daemon(
        prog(
            "job",
            "/bin/sleep 1000",
            directory=work,
            ready_check="exec:test -e ready.flag",
            ready_interval=0.1,
        )
    )
    starting_then_running(d, "job", work / "ready.flag", "exec")


def test_not_ready_in_time_is_a_failed_start_then_fatal(daemon, tmp_path: Path) -> None:
    port = free_port()  # nothing will listen there
    d = daemon(
        prog(
            "pg",
            "/bin/sleep 1000",
            ready_check=f"tcp:127.0.0.1:{port}",
            ready_timeout=0.5,
            ready_interval=0.1,
            startretries=1,
            backoff=0.1,
        )
    )
    info = d.wait_state("pg", "FATAL", timeout=30)
    assert info["spawnerr"] == (
        f"ready check tcp:127.0.0.1:{port} not passed after 0.5 s: connection refused"
    )
    log = d.log()
    assert log.count("not ready: pg: ready check") == 2  # the first try and one retry
    assert "gave up: pg entered FATAL state" in log


def test_exit_before_ready_is_a_failed_start(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog(
            "quick",
            "/bin/sh -c 'exit 0'",
            ready_check="notify",
            startretries=0,
        )
    )
    info = d.wait_state("quick", "FATAL", timeout=20)
    assert info["spawnerr"] == "Exited too quickly (process log may have details)"


def test_extend_timeout_usec_gives_more_time(daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    # ready_timeout 1 s alone would fail it; the program asks for 60 s more at once
    d = daemon(
        prog(
            "slow",
            actor("--extend", 60_000_000, "--until", go, "--notify"),
            ready_check="notify",
            ready_timeout=1,
        )
    )
    d.wait_log("spawned: 'slow'")
    # past the configured timeout it is still STARTING, never stopped
    wait_until(lambda: "not ready" not in d.log(), timeout=1, what="no timeout yet")
    starting_then_running(d, "slow", go, "notify")
    assert "not ready: slow" not in d.log()


def test_no_ready_check_behaves_as_4_3(daemon, tmp_path: Path) -> None:
    d = daemon(prog("plain", "/bin/sleep 1000", startsecs=0))
    d.wait_state("plain", "RUNNING")
    info = corral_info(d, "plain")
    assert info["ready_check"] == "" and info["ready"] is True and info["health"] == "none"
    assert info["depends_on"] == [] and info["waiting_for"] == "" and info["restarts"] == 0
    # 4.3's keys first, in 4.3's order, then corral's
    plain = d.info("plain")
    assert list(info)[: len(plain)] == list(plain)
    methods = d.rpc.system.listMethods()
    assert "corral.getProcessInfo" in methods and "corral.getAllProcessInfo" in methods
    assert [i["name"] for i in d.rpc.corral.getAllProcessInfo()] == ["plain"]
