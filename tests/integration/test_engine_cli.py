"""corrald's command line as supervisord's: every flag does what the config key does, a bad
value is refused naming the flag (exit 2), and the config is searched for without -c."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.support import SRC, Daemon, env_for_children, rpc_proxy, run_corrald, wait_until

MAIN = str(Path(SRC) / "corral" / "daemon" / "main.py")

BAD_VALUES = [
    (["-a", "abc"], "invalid value for -a 'abc': invalid literal for int() with base 10: 'abc'"),
    (["--minfds=abc"], "invalid value for --minfds 'abc': invalid literal for int()"),
    (["--minprocs=x"], "invalid value for --minprocs 'x': invalid literal for int()"),
    (["-z", "x"], "invalid value for -z 'x': invalid literal for int() with base 10: 'x'"),
    (["-y", "5XB"], "invalid value for -y '5XB': invalid literal for int() with base 10: '5xb'"),
    (["-e", "verbose"], "invalid value for -e 'verbose': bad logging level name 'verbose'"),
    (["-m", "9"], "invalid value for -m '9': 9 can not be converted to an octal type"),
    (
        ["-d", "/nonexistent"],
        "invalid value for -d '/nonexistent': /nonexistent is not an existing",
    ),
    (
        ["-q", "/nonexistent"],
        "invalid value for -q '/nonexistent': /nonexistent is not an existing",
    ),
    (
        ["-l", "/nonexistent/x.log"],
        "invalid value for -l '/nonexistent/x.log': The directory named as part of the path "
        "/nonexistent/x.log does not exist",
    ),
    (
        ["-j", "/nonexistent/x.pid"],
        "invalid value for -j '/nonexistent/x.pid': The directory named as part of the path",
    ),
    (["-u", "nosuch-user-xyz"], "Error: Invalid user name nosuch-user-xyz"),
    (["-b"], "option -b not recognized"),
    (["-n", "-n"], "conflicting command line option '-n'"),
    (["foo"], "positional arguments are not supported: ['foo']"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_flag_values_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/d.log\npidfile={tmp_path}/d.pid\n")
    result = run_corrald("-c", str(conf), *args)
    assert result.returncode == 2
    assert message in result.stderr
    # supervisord names the program as it was invoked
    assert result.stderr.endswith(f"For help, use {MAIN} -h\n")
    assert not (tmp_path / "d.log").exists()


def _conf(tmp: Path) -> str:
    return (
        f"[supervisord]\nlogfile={tmp}/d.log\npidfile={tmp}/d.pid\n"
        f"[unix_http_server]\nfile={tmp}/s.sock\n"
        "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n"
    )


def test_config_is_found_in_the_current_directory_without_c(tmp_path: Path) -> None:
    (tmp_path / "supervisord.conf").write_text(_conf(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, MAIN, "-n"],
        cwd=tmp_path,
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        rpc = rpc_proxy(str(tmp_path / "s.sock"))
        wait_until(lambda: _state(rpc) == "RUNNING", timeout=15, what="a running")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    if os.geteuid() == 0:
        # as root, searching the current directory deserves a word (4.3 warns too)
        assert b"searching for the config file in default locations" in err


def _state(rpc: object) -> str | None:
    try:
        return rpc.supervisor.getProcessInfo("a")["statename"]  # type: ignore[attr-defined]
    except OSError:
        return None


def test_etc_next_to_the_program_is_searched_first(tmp_path: Path) -> None:
    # <dir of argv0>/../etc/supervisord.conf: a venv's own etc/ wins over the cwd
    bindir = tmp_path / "venv" / "bin"
    bindir.mkdir(parents=True)
    (tmp_path / "venv" / "etc").mkdir()
    (tmp_path / "venv" / "etc" / "supervisord.conf").write_text("[supervisord]\nminfds=abc\n")
    script = bindir / "corrald"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom corral.daemon.main import main\nsys.exit(main())\n"
    )
    script.chmod(0o755)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    (cwd / "supervisord.conf").write_text(_conf(tmp_path))
    result = subprocess.run(
        [str(script), "-n"], cwd=cwd, env=env_for_children(), capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid literal for int() with base 10: 'abc'" in result.stderr
    assert f"file: '{tmp_path}/venv/etc/supervisord.conf'" in result.stderr


def test_no_config_found_lists_the_paths_searched(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, MAIN], cwd=tmp_path, env=env_for_children(), capture_output=True, text=True
    )
    assert result.returncode == 2
    here = os.path.dirname(os.path.dirname(MAIN))
    paths = ", ".join(
        [
            f"{here}/etc/supervisord.conf",
            f"{here}/supervisord.conf",
            "supervisord.conf",
            "etc/supervisord.conf",
            "/etc/supervisord.conf",
            "/etc/supervisor/supervisord.conf",
        ]
    )
    assert (
        f"Error: No config file found at default paths ({paths}); use the -c option to "
        "specify a config file at a different path"
    ) in result.stderr


def test_umask_directory_childlogdir_nocleanup_flags(tmp_path: Path) -> None:
    work, logs = tmp_path / "work", tmp_path / "logs"
    work.mkdir()
    logs.mkdir()
    stale = logs / "old-stdout---supervisor-abcdef.log"
    stale.write_text("history\n")
    d = Daemon(tmp_path, "[program:t]\ncommand=/bin/sh -c 'touch made && exec sleep 100'\n")
    d.start("-m", "077", "-d", str(work), "-q", str(logs), "-k")
    try:
        info = d.wait_state("t", "RUNNING")
        made = wait_until(lambda: (work / "made").exists() and work / "made", what="file made")
        # -d: the daemon (and so a child without directory=) works there; -m: its umask
        assert oct(made.stat().st_mode & 0o777) == "0o600"
        assert Path(info["stdout_logfile"]).parent == logs
        assert stale.read_text() == "history\n"  # -k: old AUTO logs kept
    finally:
        assert d.stop() == 0


def test_without_nocleanup_old_auto_logs_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "old-stdout---supervisor-abcdef.log"
    stale.write_text("history\n")
    rotated = tmp_path / "old-stdout---supervisor-abcdef.log.1"
    rotated.write_text("older\n")
    other = tmp_path / "old-stdout---edge-abcdef.log"  # another identifier's: not ours
    other.write_text("theirs\n")
    d = Daemon(tmp_path, "[program:t]\ncommand=/bin/sleep 100\nstartsecs=0\n").start()
    try:
        d.wait_state("t", "RUNNING")
        assert not stale.exists() and not rotated.exists()
        assert other.exists()
    finally:
        d.stop()


def test_strip_ansi_flag(tmp_path: Path) -> None:
    out = tmp_path / "color.log"
    d = Daemon(
        tmp_path,
        "[program:c]\ncommand=/bin/sh -c 'printf \"\\033[31mred\\033[0m\\n\"; exec sleep 100'\n"
        f"startsecs=0\nstdout_logfile={out}\n",
    )
    d.start("-t")
    try:
        wait_until(lambda: out.exists() and out.read_bytes() == b"red\n", what="plain text")
    finally:
        d.stop()


@pytest.mark.parametrize("silent", [False, True])
def test_silent_flag_keeps_stdout_quiet(tmp_path: Path, silent: bool) -> None:
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    stdout = tmp_path / "stdout.txt"
    with open(stdout, "wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, MAIN, "-n", "-c", str(d.conf), *(["-s"] if silent else [])],
            env=env_for_children(),
            stdout=handle,
            stderr=subprocess.DEVNULL,
        )
    try:
        d.proc = proc
        wait_until(lambda: "corrald started with pid" in d.log(), timeout=15, what="started")
    finally:
        assert d.stop() == 0
    echoed = stdout.read_text()
    if silent:
        assert echoed == ""
    else:
        assert "corrald started with pid" in echoed


def test_main_log_maxbytes_and_backups_flags(tmp_path: Path) -> None:
    # loglevel=debug copies child output into the main log, a line at a time here
    chatty = "import time\nfor i in range(300): print('x' * 50, flush=True); time.sleep(0.002)"
    (tmp_path / "chatty.py").write_text(chatty + "\ntime.sleep(100)\n")
    d = Daemon(
        tmp_path,
        f"[program:chatty]\ncommand={sys.executable} {tmp_path}/chatty.py\nstartsecs=0\n",
        loglevel="debug",
    )
    d.start("-y", "2KB", "-z", "2")
    try:
        d.wait_state("chatty", "RUNNING")
        wait_until(lambda: Path(f"{d.logfile}.2").exists(), what="two backups")
        assert not Path(f"{d.logfile}.3").exists()
        for path in (Path(f"{d.logfile}.1"), Path(f"{d.logfile}.2")):
            # a rotated file holds at most one write past the limit
            assert 2048 <= path.stat().st_size < 2048 + 4096
    finally:
        d.stop()


def test_minfds_and_minprocs_flags_raise_the_soft_limits(tmp_path: Path) -> None:
    import resource

    def low_limits() -> None:  # started with low soft limits, as on many hosts
        for limit, soft in ((resource.RLIMIT_NOFILE, 256), (resource.RLIMIT_NPROC, 100)):
            hard = resource.getrlimit(limit)[1]
            resource.setrlimit(limit, (soft, hard))

    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    d.proc = subprocess.Popen(
        [sys.executable, MAIN, "-n", "-c", str(d.conf), "-a", "1024", "--minprocs", "500"],
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=low_limits,
    )
    try:
        wait_until(d._answers, timeout=15, what="corrald to answer")
        pid = d.wait_state("a", "RUNNING")["pid"]
        me = psutil.Process(d.proc.pid)
        assert me.rlimit(psutil.RLIMIT_NOFILE)[0] == 1024
        assert me.rlimit(psutil.RLIMIT_NPROC)[0] == 500
        log = d.log()
        assert "Increased RLIMIT_NOFILE limit to 1024" in log
        assert "Increased RLIMIT_NPROC limit to 500" in log
        # children inherit the raised limits
        assert psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)[0] == 1024
    finally:
        d.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_user_flag_drops_privileges() -> None:
    import shutil

    tmp = Path(tempfile.mkdtemp(prefix="corral-u-"))
    tmp.chmod(0o777)
    d = Daemon(tmp, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    try:
        d.start("-u", "nobody")
        pid = d.wait_state("a", "RUNNING")["pid"]
        assert d.proc is not None
        assert psutil.Process(d.proc.pid).username() == "nobody"
        assert psutil.Process(pid).username() == "nobody"
        assert "Privileges were not dropped" not in d.log()
        assert f"INFO Set uid to user {psutil.Process(pid).uids().real} succeeded" in d.log()
        assert d.stop() == 0  # what shutdown loads was loaded before the drop
    finally:
        d.stop()
        shutil.rmtree(tmp)


def test_daemonized_with_directory_umask_and_identifier(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    d = Daemon(tmp_path, "[program:t]\ncommand=/bin/sh -c 'touch made && exec sleep 100'\n")
    result = run_corrald("-c", str(d.conf), "-d", str(work), "-m", "077", "-i", "edge-1")
    assert result.returncode == 0, result.stderr
    pidfile = tmp_path / "corrald.pid"
    text = pidfile.read_text()
    pid = int(text)
    assert text == f"{pid}\n"
    try:
        rpc = rpc_proxy(d.sock)
        assert rpc.supervisor.getIdentification() == "edge-1"
        made = wait_until(lambda: (work / "made").exists() and work / "made", what="file made")
        assert oct(made.stat().st_mode & 0o777) == "0o600"
        info = rpc.supervisor.getProcessInfo("t")
        assert "---edge-1-" in Path(info["stdout_logfile"]).name  # AUTO names carry it
        assert psutil.Process(pid).cwd() == str(work)
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not psutil.pid_exists(pid), timeout=15, what="daemon gone")
    assert not pidfile.exists()


def test_command_line_overrides_survive_a_reload(tmp_path: Path) -> None:
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    d.start("-i", "edge-2")
    try:
        first = d.wait_state("a", "RUNNING")["pid"]
        d.signal(signal.SIGHUP)
        wait_until(
            lambda: (p := _pid(d)) not in (None, 0, first) and p, timeout=15, what="restarted"
        )
        assert d.rpc.supervisor.getIdentification() == "edge-2"
    finally:
        assert d.stop() == 0


def _pid(d: Daemon) -> int | None:
    try:
        return int(d.info("a")["pid"])
    except Exception:  # between runs the process may not exist
        return None


def test_a_pidfile_that_cannot_be_written_is_logged_and_the_daemon_runs(tmp_path: Path) -> None:
    (tmp_path / "piddir").mkdir()  # a directory where the pidfile should be
    d = Daemon(tmp_path, "[program:a]\ncommand=/bin/sleep 100\nstartsecs=0\n")
    d.start("-j", str(tmp_path / "piddir"))
    try:
        d.wait_log(f"CRIT could not write pidfile {tmp_path / 'piddir'}")
        assert d.wait_state("a", "RUNNING")
    finally:
        assert d.stop() == 0
    assert (tmp_path / "piddir").is_dir()  # not removed at exit: it was never ours


def test_the_corral_entry_point_runs_either_tool() -> None:
    import shutil

    from corral import __version__

    env = env_for_children()
    run = [sys.executable, "-m", "corral.cli"]
    daemon = subprocess.run([*run, "daemon", "-v"], capture_output=True, text=True, env=env)
    assert (daemon.returncode, daemon.stdout) == (0, f"{__version__}\n")
    bad = subprocess.run([*run, "daemon", "--bogus"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "option --bogus not recognized" in bad.stderr
    unknown = subprocess.run([*run, "nope"], capture_output=True, text=True, env=env)
    assert unknown.returncode == 2 and "unknown command 'nope'" in unknown.stderr
    # pip install puts all three on PATH
    for tool in ("corrald", "corralctl", "corral"):
        assert shutil.which(tool), tool
