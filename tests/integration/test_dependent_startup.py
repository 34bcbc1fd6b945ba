"""The real supervisord-dependent-startup listener (from PyPI) against a real corrald, on a
config written the way its README documents it: programs with autostart=false and
dependent_startup=true, ordered by dependent_startup_wait_for, and the listener in an
[eventlistener:x] section subscribed to PROCESS_STATE.

The listener reads the config file itself (with supervisor's own parser), waits for
PROCESS_STATE events, calls supervisor.startProcess(name, False) over SUPERVISOR_SERVER_URL
for each program whose dependencies reached the wanted states, and exits 0 once every
program it handles is RUNNING or FATAL. It never polls: each step is driven by an event."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

from tests.support import Daemon, missing_test_extra, wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"
LISTENER = "dependentstartup"
# Each step waits for an event and then a startsecs; generous for a loaded 2-core machine.
SLOW = 60.0


def section(kind: str, name: str, **opts: object) -> str:
    return "\n".join([f"[{kind}:{name}]", *(f"{k}={v}" for k, v in opts.items())]) + "\n\n"


def listener(tmp: Path) -> str:
    """The [eventlistener:x] section from the plugin's README, with an explicit -c (the
    plugin otherwise searches for a file named supervisord.conf) and its log in a file."""
    for module in ("supervisord_dependent_startup", "toposort", "supervisor"):
        if importlib.util.find_spec(module) is None:
            missing_test_extra(module)
    return section(
        "eventlistener",
        LISTENER,
        command=f"{PY} -m supervisord_dependent_startup -c %(here)s/corral.conf "
        f"--log-file {tmp / 'dsp.log'}",
        autostart="true",
        autorestart="unexpected",
        startretries=0,
        exitcodes="0,3",
        events="PROCESS_STATE",
        stderr_logfile=tmp / "dsp.err",
    )


def dependent(name: str, command: str, wait_for: str = "", **opts: object) -> str:
    opts = {"command": command, "autostart": "false", "dependent_startup": "true", **opts}
    if wait_for:
        opts["dependent_startup_wait_for"] = wait_for
    return section("program", name, **opts)


def sleeper() -> str:
    return f"{PY} {FIX}/sleeper.py"


def plugin_log(tmp: Path) -> str:
    p = tmp / "dsp.log"
    return p.read_text() if p.exists() else ""


def line_no(log: list[str], pattern: str) -> int:
    """The index of the one main-log line matching `pattern`."""
    hits = [i for i, line in enumerate(log) if re.search(pattern, line)]
    assert len(hits) == 1, f"{pattern!r} matched {len(hits)} lines:\n" + "\n".join(log)
    return hits[0]


def no_plugin_complaints(d: Daemon, tmp: Path) -> None:
    log = d.log()
    assert "unknown option" not in log, log
    # the listener logs a WARNING for a fault from startProcess, a key it could not parse,
    # an unknown dependency or an invalid state
    assert "WARNING" not in plugin_log(tmp), plugin_log(tmp)
    assert "ERROR" not in plugin_log(tmp), plugin_log(tmp)


def test_the_listener_starts_a_chain_in_dependency_order(daemon: Any, tmp_path: Path) -> None:
    d: Daemon = daemon(
        listener(tmp_path)
        # listed out of order: the listener sorts by dependency, not by file position
        + dependent("worker", sleeper(), "app:running", dependent_startup_inherit_priority="true")
        + dependent("app", sleeper(), "db:running")
        + dependent("db", sleeper())
    )
    # it exits 0 (an expected exit) once everything it handles is RUNNING
    d.wait_log(f"exited: {LISTENER} (exit status 0; expected)", timeout=SLOW)
    infos = {n: d.info(n) for n in ("db", "app", "worker")}
    assert {n: i["statename"] for n, i in infos.items()} == dict.fromkeys(infos, "RUNNING")
    assert d.info(LISTENER)["statename"] == "EXITED"

    log = d.log().splitlines()
    order = [
        line_no(log, r"spawned: 'db' with pid"),
        line_no(log, r"success: db entered RUNNING state"),
        line_no(log, r"spawned: 'app' with pid"),
        line_no(log, r"success: app entered RUNNING state"),
        line_no(log, r"spawned: 'worker' with pid"),
        line_no(log, r"success: worker entered RUNNING state"),
    ]
    assert order == sorted(order), "\n".join(log)
    # each was spawned after the one before it had stayed up for startsecs (1 s)
    assert infos["db"]["start"] < infos["app"]["start"] < infos["worker"]["start"]
    pids = {n: i["pid"] for n, i in infos.items()}
    assert all(f"spawned: '{n}' with pid {pid}" in d.log() for n, pid in pids.items())
    no_plugin_complaints(d, tmp_path)


def test_exited_and_fatal_dependencies(daemon: Any, tmp_path: Path) -> None:
    d: Daemon = daemon(
        listener(tmp_path)
        # a one-shot job: app waits for it to have run and exited
        + dependent("migrate", f"{PY} {FIX}/exiter.py 0 0.2", startsecs=0, autorestart="false")
        + dependent("app", sleeper(), "migrate:exited")
        # startsecs far above a Python start-up: broken never reaches RUNNING, and with no
        # retries it is FATAL at its first exit
        + dependent("broken", f"{PY} {FIX}/exiter.py 3", startsecs=10, startretries=0)
        + dependent("needs_broken", sleeper(), "broken:running")
        + dependent("on_failure", sleeper(), "broken:fatal")
    )
    d.wait_state("app", "RUNNING", timeout=SLOW)
    d.wait_state("on_failure", "RUNNING", timeout=SLOW)
    # the listener has seen every other program done (RUNNING or FATAL) and weighed
    # needs_broken again
    wait_until(
        lambda: "Services not yet running (1): needs_broken" in plugin_log(tmp_path),
        timeout=SLOW,
        what="the listener to wait for needs_broken alone",
    )
    # it handles one event at a time: once it logs the next one, the pass above (and any
    # startProcess it made) is over
    d.rpc.supervisor.stopProcess("on_failure")
    wait_until(
        lambda: "Service on_failure went from RUNNING to STOPPING" in plugin_log(tmp_path),
        timeout=SLOW,
        what="the listener to hear of the next event",
    )
    assert d.info("needs_broken")["statename"] == "STOPPED"
    assert d.info("migrate")["statename"] == "EXITED"
    assert d.info("broken")["statename"] == "FATAL"
    # needs_broken is neither RUNNING nor FATAL: the listener keeps listening
    assert d.info(LISTENER)["statename"] == "RUNNING"

    log = d.log().splitlines()
    assert line_no(log, r"exited: migrate \(exit status 0; expected\)") < line_no(
        log, r"spawned: 'app' with pid"
    )
    assert line_no(log, r"gave up: broken entered FATAL state") < line_no(
        log, r"spawned: 'on_failure' with pid"
    )
    assert not any("spawned: 'needs_broken'" in line for line in log)
    no_plugin_complaints(d, tmp_path)
