"""Container semantics: --container, essential programs and the daemon's exit code, a second
Ctrl-C, environment files, and the health answers orchestrators read."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import Daemon, env_for_children, free_port, prog, wait_until

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"
PY = sys.executable


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-fp", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


def exit_code(d: Daemon, timeout: float = 60) -> int:
    """corrald's exit status, once it has ended by itself."""
    assert d.proc is not None
    return d.proc.wait(timeout)


def ctl(d: Daemon, *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY, "-m", "corral.ctl.main", "-c", str(d.conf), *words],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )


# --- --container ---------------------------------------------------------------------------


def test_container_mode_writes_no_log_files_and_puts_everything_on_stdout(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "childlogs"
    logs.mkdir()
    conf = tmp_path / "c.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [supervisord]
        pidfile={tmp_path}/corrald.pid
        childlogdir={logs}

        [program:web]
        command=sh -c 'echo serving; exec sleep 100'
        startsecs=0

        [program:job]
        command=sh -c 'sleep 0.5; echo migrated'
        startsecs=0
        autorestart=false
        """)
    )
    out = tmp_path / "stdout"
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [PY, "-m", "corral.daemon.main", "--container", "-c", str(conf)],
            cwd=tmp_path,
            env=env_for_children(),
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: b"job     | migrated" in out.read_bytes(), what="the job's line")
        wait_until(lambda: b"web     | serving" in out.read_bytes(), what="web's line")
        assert b"corrald | INFO spawned: 'web'" in out.read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0  # a clean stop of a container exits 0
    assert list(logs.iterdir()) == []  # no AUTO child logs
    assert not (tmp_path / "supervisord.log").exists()  # no main log file unless configured


def test_without_container_nothing_changes(tmp_path: Path) -> None:
    d = Daemon(tmp_path, prog("web", "sh -c 'echo serving; exec sleep 100'", startsecs=0))
    out = tmp_path / "stdout"
    with out.open("wb") as f:
        d.start(stdout=f)
    d.wait_log("success: web entered RUNNING")
    assert d.stop() == 0
    assert b"serving" not in out.read_bytes()  # no console by default
    assert b"| " not in out.read_bytes()
    assert list(tmp_path.glob("web-stdout---*.log"))  # AUTO logs as 4.3 makes them


# --- essential programs ----------------------------------------------------------------------

ESSENTIAL_ENDS = [
    # (command, exit status of the daemon, what the log says)
    ("sh -c 'sleep 0.3; exit 3'", 3, "exited (exit status 3) and will not be restarted"),
    ("sh -c 'sleep 0.3; kill -TERM $$'", 128 + 15, "terminated by SIGTERM"),
    ("sh -c 'sleep 0.3; kill -KILL $$'", 128 + 9, "terminated by SIGKILL"),
    ("/nonexistent/server", 1, "entered FATAL state"),
]


@pytest.mark.parametrize(
    ("command", "code", "why"), ESSENTIAL_ENDS, ids=["code", "TERM", "KILL", "fatal"]
)
def test_the_end_of_an_essential_program_ends_the_daemon_with_its_code(
    tmp_path: Path, command: str, code: int, why: str
) -> None:
    d = Daemon(
        tmp_path,
        prog("app", command, startsecs=0, autorestart="false", essential="true", startretries=0)
        + prog("sidecar", "sleep 100", startsecs=0),
    )
    d.start(wait=False)
    assert exit_code(d) == code
    log = d.log()
    assert f"essential program app {why}" in log or (why in log and "essential program app" in log)
    assert f"exit status {code}" in log.split("essential program app")[1]
    assert "stopped: sidecar" in log


def test_a_job_container_exits_0_when_its_job_succeeds(tmp_path: Path) -> None:
    d = Daemon(
        tmp_path,
        prog(
            "job", f"{PY} {FIX}/exiter.py 0 0.5", startsecs=0, autorestart="false", essential="true"
        )
        + prog("db", "sleep 100", startsecs=0),
    )
    d.start(wait=False)
    assert exit_code(d) == 0
    assert "essential program job exited (exit status 0)" in d.log()
    assert "stopped: db" in d.log()


def test_an_essential_program_that_restarts_does_not_end_the_daemon(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    d = Daemon(
        tmp_path,
        prog(
            "app",
            f"sh -c 'echo x >> {marker}; sleep 0.2; exit 1'",
            startsecs=0,
            autorestart="true",
            essential="true",
        ),
    )
    d.start()
    wait_until(lambda: marker.exists() and marker.read_text().count("x") >= 3, what="3 runs")
    assert d.proc is not None and d.proc.poll() is None
    assert d.stop() == 0


def test_stopping_an_essential_program_by_hand_does_not_end_the_daemon(tmp_path: Path) -> None:
    d = Daemon(tmp_path, prog("app", "sleep 100", startsecs=0, essential="true"))
    d.start()
    d.rpc.supervisor.stopProcess("app")
    assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
    assert d.stop() == 0


# --- stopping -------------------------------------------------------------------------------


def stubborn(tmp_path: Path, stopwaitsecs: int) -> str:
    """A program that ignores SIGTERM; its log says 'ready' once it does."""
    return prog(
        "stubborn",
        f"{PY} -u {FIX}/stubborn.py",
        startsecs=0,
        stopwaitsecs=stopwaitsecs,
        stdout_logfile=tmp_path / "stubborn.out",
    )


def wait_stubborn(tmp_path: Path, text: str) -> None:
    out = tmp_path / "stubborn.out"
    wait_until(lambda: out.exists() and text in out.read_text(), what=f"stubborn: {text}")


def test_a_second_ctrl_c_kills_what_is_left_at_once(tmp_path: Path) -> None:
    d = Daemon(tmp_path, stubborn(tmp_path, 120))
    d.start("--container")
    wait_stubborn(tmp_path, "ready")
    d.signal(signal.SIGINT)
    d.wait_log("received SIGINT indicating exit request")
    wait_stubborn(tmp_path, "got TERM, ignoring")
    d.signal(signal.SIGINT)
    # stopwaitsecs is 120: only the second Ctrl-C makes this quick
    assert exit_code(d, timeout=60) == 1
    log = d.log()
    assert "received SIGINT again while shutting down: killing what is left" in log
    assert "killing 'stubborn'" in log
    assert "exit status 1: stubborn had to be killed (SIGKILL) after stopwaitsecs" in log


def test_in_a_container_a_stop_that_needed_sigkill_exits_non_zero(tmp_path: Path) -> None:
    d = Daemon(tmp_path, stubborn(tmp_path, 1))
    d.start("--container")
    wait_stubborn(tmp_path, "ready")
    assert d.stop() == 1
    assert "exit status 1: stubborn had to be killed (SIGKILL)" in d.log()


def test_outside_a_container_the_same_stop_exits_0_as_4_3_does(tmp_path: Path) -> None:
    d = Daemon(tmp_path, stubborn(tmp_path, 1))
    d.start()
    wait_stubborn(tmp_path, "ready")
    assert d.stop() == 0
    assert "killing 'stubborn'" in d.log()


@pytest.mark.skipif(not can_unshare(), reason="needs unshare and permission for PID namespaces")
def test_as_pid_1_with_the_console_the_job_exit_code_is_the_containers(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [supervisord]
        pidfile={tmp_path}/corrald.pid
        childlogdir={tmp_path}

        [program:parent]
        command={PY} {FIX}/forker.py orphan
        startsecs=0
        autorestart=false

        [program:job]
        command=sh -c 'sleep 1; echo job done; exit 7'
        startsecs=0
        autorestart=false
        essential=true
        """)
    )
    result = subprocess.run(
        [
            "unshare",
            "-fp",
            "--mount-proc",
            PY,
            "-m",
            "corral.daemon.main",
            "--container",
            "-c",
            str(conf),
        ],
        env=env_for_children(),
        capture_output=True,
        timeout=60,
    )
    out = result.stdout.decode()
    assert result.returncode == 7, out
    assert "corrald | INFO corrald started with pid 1" in out
    assert "job     | job done" in out
    assert "parent  | " in out  # forker.py's own lines
    assert "terminating leftover process" in out  # the orphan is not left behind


# --- environment files -----------------------------------------------------------------------

DUMP = f"{PY} {FIX}/envdump.py"


def test_environment_files_layer_in_their_documented_order(tmp_path: Path) -> None:
    (tmp_path / "daemon.env").write_text(
        textwrap.dedent("""\
        # the daemon's file
        SHARED=from-daemon-file
        DAEMON_ONLY=yes
        ORDER1=daemon-file
        """)
    )
    (tmp_path / "app.env").write_text(
        textwrap.dedent("""\
        export QUOTED="two words \\"quoted\\"\\nnext line"
        SINGLE='$HOME stays'
        BARE = padded value # comment
        ORDER2=program-file
        ORDER3=program-file
        """)
    )
    dump = tmp_path / "env.json"
    d = Daemon(
        tmp_path,
        prog(
            "app",
            f"{DUMP} {dump}",
            startsecs=0,
            environment_file=f"app.env, -{tmp_path}/missing.env",
            environment="ORDER3=program-environment",
        ),
        supervisord=(
            "environment_file=daemon.env\n"
            "environment=ORDER1=daemon-environment,ORDER2=daemon-environment"
        ),
    )
    d.start()
    env = wait_until(lambda: dump.exists() and dump.read_text() and json.loads(dump.read_text()))
    assert env["DAEMON_ONLY"] == "yes"
    assert env["QUOTED"] == 'two words "quoted"\nnext line'
    assert env["SINGLE"] == "$HOME stays"
    assert env["BARE"] == "padded value"
    assert env["ORDER1"] == "daemon-environment"  # [supervisord] environment beats its files
    assert env["ORDER2"] == "program-file"  # the program's files beat [supervisord]'s
    assert env["ORDER3"] == "program-environment"  # and its environment= beats its files


def test_an_env_file_is_read_again_at_each_start(tmp_path: Path) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text("TOKEN=first\n")
    dump = tmp_path / "env.json"
    d = Daemon(tmp_path, prog("app", f"{DUMP} {dump}", startsecs=0, environment_file=secret))
    d.start()
    wait_until(lambda: dump.exists() and '"TOKEN": "first"' in dump.read_text())
    secret.write_text("TOKEN=rotated\n")
    dump.unlink()
    d.rpc.supervisor.stopProcess("app")
    d.rpc.supervisor.startProcess("app")
    wait_until(lambda: dump.exists() and '"TOKEN": "rotated"' in dump.read_text())


def test_a_missing_env_file_is_a_spawn_error_naming_it(tmp_path: Path) -> None:
    d = Daemon(
        tmp_path,
        prog("app", "sleep 100", startsecs=0, startretries=0, environment_file="/nope/app.env"),
    )
    d.start()
    info = d.wait_state("app", "FATAL")
    assert "environment file /nope/app.env not found" in d.log()
    assert info["spawnerr"] == "environment file /nope/app.env not found"


def test_a_bad_env_line_is_a_spawn_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("GOOD=1\n# fine\nthis is not an assignment\n")
    d = Daemon(
        tmp_path, prog("app", "sleep 100", startsecs=0, startretries=0, environment_file=bad)
    )
    d.start()
    info = d.wait_state("app", "FATAL")
    assert f"{bad}:3:" in info["spawnerr"]
    assert f"spawnerr: {bad}:3:" in d.log()
    # the daemon and the config are fine: fixing the file is enough
    bad.write_text("GOOD=1\n")
    d.rpc.supervisor.startProcess("app")
    assert d.info("app")["statename"] == "RUNNING"


# --- health ----------------------------------------------------------------------------------


@pytest.fixture
def with_a_failed_program(tmp_path: Path) -> tuple[Daemon, int]:
    port = free_port()
    d = Daemon(
        tmp_path,
        prog("web", "sleep 100", startsecs=0)
        + prog("broken", "/nonexistent/server", startsecs=0, startretries=0),
        extra=f"[inet_http_server]\nport=127.0.0.1:{port}\nusername=admin\npassword=s3cret",
    )
    d.start()
    d.wait_state("broken", "FATAL")
    return d, port


def get(port: int, path: str, auth: str | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_healthz_answers_without_credentials(with_a_failed_program: tuple[Daemon, int]) -> None:
    _, port = with_a_failed_program
    assert get(port, "/healthz") == (200, "ok\n")
    assert get(port, "/RPC2")[0] == 401  # everything else still needs them


def test_readyz_says_only_a_count_without_credentials_and_why_with_them(
    with_a_failed_program: tuple[Daemon, int],
) -> None:
    d, port = with_a_failed_program
    assert get(port, "/readyz") == (503, "not ready: 1 of 2\n")
    assert get(port, "/readyz", "admin:wrong") == (503, "not ready: 1 of 2\n")
    status, body = get(port, "/readyz", "admin:s3cret")
    assert status == 503
    assert body.splitlines()[0] == "not ready: 1 of 2"
    assert body.splitlines()[1].startswith("broken FATAL: ")
    # a program the operator stopped is not counted
    d.rpc.supervisor.stopProcess("web")
    assert get(port, "/readyz") == (503, "not ready: 1 of 1\n")


def test_readyz_is_200_once_everything_is_as_it_should_be(tmp_path: Path) -> None:
    d = Daemon(
        tmp_path,
        prog("web", "sleep 100", startsecs=0)
        + prog("migrate", "true", startsecs=0, autorestart="false"),
    )
    d.start()
    d.wait_state("migrate", "EXITED")
    conn = http.client.HTTPConnection("localhost")
    # over the unix socket too
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(d.sock)
    conn.sock = sock
    conn.request("GET", "/readyz")
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"ok\n")
    conn.close()
    result = ctl(d, "health")
    assert (result.returncode, result.stdout) == (0, "ok: 2 processes as they should be\n")


def test_corralctl_health_exit_codes(with_a_failed_program: tuple[Daemon, int]) -> None:
    d, _ = with_a_failed_program
    result = ctl(d, "health")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "not ready: 1 of 2"
    assert lines[1].startswith("broken FATAL: ")
    d.stop()
    result = ctl(d, "health")
    assert result.returncode == 1
    assert "refused connection" in result.stdout or "no such file" in result.stdout


# --- the shipped example ------------------------------------------------------------------


def test_the_container_example_serves_logs_and_answers_its_probes(tmp_path: Path) -> None:
    """examples/container/corral.conf as the image runs it, with loopback ports and this
    test's directory in place of the image's paths."""
    examples = Path(__file__).resolve().parents[2] / "examples"
    shutil.copytree(examples / "programs", tmp_path / "programs")
    (tmp_path / "container").mkdir()
    app, front, corral = free_port(), free_port(), free_port()
    text = (
        (examples / "container" / "corral.conf")
        .read_text()
        .replace("/tmp/", f"{tmp_path}/")
        .replace("/run/secrets/", f"{tmp_path}/")
        .replace("*:9001", f"127.0.0.1:{corral}")
        .replace('environment=PORT="8080"', 'environment=HOST="127.0.0.1",PORT="8080"')
        .replace("8765", str(app))
        .replace("8080", str(front))
    )
    conf = tmp_path / "container" / "corral.conf"
    conf.write_text(text)
    (tmp_path / "app.env").write_text("GREETING=hello\n")
    out = tmp_path / "stdout"
    env = {**env_for_children(), "CORRAL_PASSWORD": "change-me"}
    with out.open("wb") as f:
        proc = subprocess.Popen(
            [PY, "-m", "corral.daemon.main", "--container", "-c", str(conf)],
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: _status(corral, "/readyz") == 200, timeout=30, what="the example to be ready"
        )
        assert get(front, "/")[0] == 200
        wait_until(lambda: b'front   | 127.0.0.1 "GET / HTTP/1.1" 200' in out.read_bytes())
        console = out.read_text()
        assert f"app     | app listening on http://127.0.0.1:{app}" in console
        assert "corrald | INFO success: front entered RUNNING state, ready (tcp)" in console
        assert f"front   | front listening on http://127.0.0.1:{front}" in console
        health = subprocess.run(
            [PY, "-m", "corral.ctl.main", "-c", str(conf), "health"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (health.returncode, health.stdout) == (0, "ok: 2 processes as they should be\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    assert code == 0


def _status(port: int, path: str) -> int | None:
    try:
        return get(port, path)[0]
    except OSError:
        return None
