"""depends_on: start order gated on readiness, failure propagation, reverse stop order,
refused configs (issue 9). Orders are read from the daemon's own log and pids."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path

from tests.support import Daemon, prog, run_corrald, wait_until

PY = sys.executable
ACTOR = Path(__file__).resolve().parents[1] / "fixtures" / "programs" / "ready_actor.py"


def actor(*args: object) -> str:
    return " ".join([PY, str(ACTOR), *map(str, args)])


def order_of(log: str, word: str) -> list[str]:
    """Program names in the order of their `spawned:` (or `stopped:`) lines."""
    if word == "spawned":
        return re.findall(r"spawned: '([^']+)' with pid", log)
    return re.findall(rf"{word}: (\S+) \(", log)


def line_index(log: str, text: str) -> int:
    for i, line in enumerate(log.splitlines()):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in the log:\n{log}")


def all_running(d: Daemon) -> bool:
    return all(i["statename"] == "RUNNING" for i in d.rpc.supervisor.getAllProcessInfo())


def test_a_chain_starts_in_order_each_when_the_one_before_is_ready(daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    # c -> b -> a; a gets ready only when told; priorities would start them the other way
    d = daemon(
        prog("a", actor("--until", go, "--notify"), ready_check="notify", priority=900)
        + prog("b", actor("--notify"), ready_check="notify", depends_on="a", priority=1)
        + prog("c", actor("--notify"), ready_check="notify", depends_on="b", priority=1)
    )
    d.wait_log("spawned: 'a'")
    wait_until(lambda: d.info("b")["description"] == "waiting for a (ready)", what="b waiting")
    b = d.info("b")
    assert b["statename"] == "STARTING" and b["pid"] == 0
    assert d.info("c")["description"] == "waiting for b (ready)"
    assert d.rpc.corral.getProcessInfo("c")["waiting_for"] == "b (ready)"
    assert d.rpc.corral.getProcessInfo("c")["depends_on"] == ["b:ready"]
    go.touch()
    wait_until(lambda: all_running(d), timeout=30, what="the chain RUNNING")
    log = d.log()
    assert order_of(log, "spawned") == ["a", "b", "c"]
    assert line_index(log, "success: a entered RUNNING") < line_index(log, "spawned: 'b'")
    assert line_index(log, "success: b entered RUNNING") < line_index(log, "spawned: 'c'")
    # shutdown: dependents first
    assert d.stop() == 0
    assert order_of(d.log(), "stopped") == ["c", "b", "a"]


def test_a_diamond_runs_independent_branches_side_by_side(daemon, tmp_path: Path) -> None:
    go = tmp_path / "go"
    d = daemon(
        prog("base", actor("--until", go, "--notify"), ready_check="notify")
        + prog("left", actor("--notify"), ready_check="notify", depends_on="base")
        + prog("right", actor("--notify"), ready_check="notify", depends_on="base")
        + prog("top", "/bin/sleep 1000", startsecs=0, depends_on="left, right")
    )
    wait_until(
        lambda: d.info("top")["description"] == "waiting for left (ready), right (ready)",
        what="top waiting for both",
    )
    go.touch()
    wait_until(lambda: all_running(d), timeout=30, what="the diamond RUNNING")
    log = d.log()
    spawned = order_of(log, "spawned")
    assert spawned[0] == "base" and spawned[-1] == "top"
    assert set(spawned[1:3]) == {"left", "right"}
    assert line_index(log, "success: left entered") < line_index(log, "spawned: 'top'")
    assert line_index(log, "success: right entered") < line_index(log, "spawned: 'top'")
    pids = {i["name"]: i["pid"] for i in d.rpc.supervisor.getAllProcessInfo()}
    assert all(pids.values())
    d.rpc.supervisor.stopAllProcesses()
    stopped = order_of(d.log(), "stopped")
    assert stopped[0] == "top" and stopped[-1] == "base"


def test_a_one_shot_job_gates_the_app_and_dependencies_start_without_autostart(
    daemon, tmp_path: Path
) -> None:
    d = daemon(
        prog("db", actor("--notify"), ready_check="notify", autostart="false")
        + prog(
            "migrate",
            actor("--exit", 0),
            autostart="false",
            autorestart="false",
            startsecs=0,
            depends_on="db",
        )
        + prog("app", "/bin/sleep 1000", startsecs=0, depends_on="db, migrate:exited")
    )
    d.wait_state("app", "RUNNING", timeout=30)
    assert d.info("migrate")["statename"] == "EXITED"
    assert d.info("db")["statename"] == "RUNNING"
    log = d.log()
    assert line_index(log, "exited: migrate (exit status 0; expected)") < line_index(
        log, "spawned: 'app'"
    )


def test_a_failed_dependency_makes_its_dependents_fatal(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog("migrate", actor("--exit", 3), autorestart="false", startsecs=0)
        + prog("app", "/bin/sleep 1000", startsecs=0, depends_on="migrate:exited")
        + prog("worker", "/bin/sleep 1000", startsecs=0, depends_on="app")
    )
    app = d.wait_state("app", "FATAL", timeout=30)
    assert app["spawnerr"] == "dependency migrate failed (exited 3)"
    assert app["pid"] == 0
    worker = d.wait_state("worker", "FATAL", timeout=30)
    assert worker["spawnerr"] == "dependency app failed (FATAL)"
    assert "spawned: 'app'" not in d.log()
    assert "gave up: app entered FATAL state, dependency migrate failed (exited 3)" in d.log()


def test_start_app_starts_what_it_needs_and_returns_when_it_runs(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog("db", actor("--delay", 0.3, "--notify"), ready_check="notify", autostart="false")
        + prog("app", "/bin/sleep 1000", startsecs=0, autostart="false", depends_on="db")
    )
    assert d.rpc.supervisor.startProcess("app") is True
    assert d.info("app")["statename"] == "RUNNING"
    assert d.info("db")["statename"] == "RUNNING"


def test_stopping_or_restarting_one_program_leaves_its_dependents_alone(
    daemon, tmp_path: Path
) -> None:
    d = daemon(
        prog("db", "/bin/sleep 1000", startsecs=0)
        + prog("app", "/bin/sleep 1000", startsecs=0, depends_on="db")
    )
    wait_until(lambda: all_running(d), timeout=30, what="both RUNNING")
    app_pid = d.info("app")["pid"]
    d.rpc.supervisor.stopProcess("db")
    assert d.info("app")["statename"] == "RUNNING" and d.info("app")["pid"] == app_pid
    d.rpc.supervisor.startProcess("db")
    assert d.info("app")["pid"] == app_pid


def test_a_stop_while_waiting_needs_no_child(daemon, tmp_path: Path) -> None:
    go = tmp_path / "never"
    d = daemon(
        prog("db", actor("--until", go, "--notify"), ready_check="notify")
        + prog("app", "/bin/sleep 1000", depends_on="db")
    )
    wait_until(lambda: d.info("app")["description"] == "waiting for db (ready)", what="waiting")
    assert d.rpc.supervisor.stopProcess("app") is True
    assert d.info("app")["statename"] == "STOPPED"
    assert "spawned: 'app'" not in d.log()


def test_a_group_name_stands_for_each_of_its_programs(daemon, tmp_path: Path) -> None:
    d = daemon(
        prog("w1", actor("--notify"), ready_check="notify")
        + prog("w2", actor("--notify"), ready_check="notify")
        + prog("lb", "/bin/sleep 1000", startsecs=0, depends_on="pool")
        + "[group:pool]\nprograms=w1,w2\n\n"
    )
    wait_until(lambda: all_running(d), timeout=30, what="all RUNNING")
    log = d.log()
    assert line_index(log, "success: w1 entered") < line_index(log, "spawned: 'lb'")
    assert line_index(log, "success: w2 entered") < line_index(log, "spawned: 'lb'")


def _refused(tmp_path: Path, programs: str) -> tuple[int, str]:
    d = Daemon(tmp_path, programs)
    result = run_corrald("-n", "-c", str(d.conf))
    return result.returncode, result.stderr + result.stdout


def test_a_cycle_is_refused_with_file_and_line(tmp_path: Path) -> None:
    code, out = _refused(
        tmp_path,
        prog("a", "/bin/true", depends_on="b") + prog("b", "/bin/true", depends_on="a"),
    )
    assert code == 2
    assert "depends_on cycle: a -> b -> a" in out
    assert re.search(r"corral\.conf', line: \d+", out), out


def test_an_unknown_name_or_condition_is_refused(tmp_path: Path) -> None:
    code, out = _refused(tmp_path, prog("a", "/bin/true", depends_on="ghost"))
    assert code == 2 and "'ghost'" in out
    code, out = _refused(
        tmp_path, prog("a", "/bin/true") + prog("b", "/bin/true", depends_on="a:healthy")
    )
    assert code == 2 and "unknown condition 'healthy'" in out


def test_a_reload_with_a_cycle_is_refused_and_programs_keep_running(daemon, tmp_path: Path) -> None:
    d = daemon(prog("a", "/bin/sleep 1000", startsecs=0))
    pid = d.wait_state("a", "RUNNING")["pid"]
    text = d.conf.read_text()
    d.conf.write_text(
        text.replace("[program:a]\n", "[program:a]\ndepends_on=b\n")
        + prog("b", "/bin/sleep 1000", depends_on="a")
    )
    try:
        d.rpc.supervisor.reloadConfig()
        raise AssertionError("reread accepted a cycle")
    except Exception as e:  # xmlrpc Fault CANT_REREAD
        assert "depends_on cycle" in str(e)
    d.signal(signal.SIGHUP)
    d.wait_log("could not reload config")
    assert d.info("a")["pid"] == pid
