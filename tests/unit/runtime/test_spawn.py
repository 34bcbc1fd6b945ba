"""spawn(): what a child starts with (fds, process group, signals, cwd, umask, user,
environment), the failure texts, and the one-reaper rule, on both ways in: posix_spawn and
Popen (directory=, umask=, another user). Real children, read through /proc."""

from __future__ import annotations

import dataclasses
import errno
import gc
import os
import select
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from corral.config import load
from corral.config.model import ProcessConfig
from corral.runtime import libc_spawn
from corral.runtime import spawn as spawn_mod
from corral.runtime.spawn import Spawned, SpawnFailure, identity_for, seal_inherited_fds, spawn

SRC = Path(__file__).resolve().parents[3] / "src"
ROOT = os.geteuid() == 0
READY = "/bin/sh -c 'echo up; read x'"  # up once exec'd; alive until stdin closes
PATHS = ["posix_spawn", "popen"]


@pytest.fixture(autouse=True, params=["libc", "os"])
def posix_spawn_impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test on both posix_spawns: libc's through ctypes (the daemon's, which releases
    the GIL) and os.posix_spawn (where ctypes cannot load libc)."""
    impl: str = request.param
    if impl == "libc":
        assert libc_spawn.available, "ctypes could not load libc's posix_spawn"
    monkeypatch.setattr(libc_spawn, "available", impl == "libc")
    return impl


class Maker:
    """Configs for one test, and the children it started (killed and waited for after)."""

    def __init__(self, base: ProcessConfig, tmp_path: Path) -> None:
        self.base = base
        self.tmp_path = tmp_path
        self.children: list[Spawned] = []

    def cfg(self, command: str = READY, path: str = "posix_spawn", **kw: object) -> ProcessConfig:
        if path == "popen" and "directory" not in kw and "umask" not in kw:
            kw["directory"] = str(self.tmp_path)  # what posix_spawn cannot do
        return dataclasses.replace(self.base, command=command, **kw)  # type: ignore[arg-type]

    def start(self, cfg: ProcessConfig, env: dict[str, str] | None = None, **kw: object) -> Spawned:
        env = dict(os.environ) if env is None else env
        child = spawn(cfg, env, identity=None, **kw)  # type: ignore[arg-type]
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            for fd in (child.stdin_fd, child.stdout_fd, child.stderr_fd):
                if fd is not None:
                    close_quietly(fd)
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(child.pid, 0)  # no one else may have waited for it


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Maker]:
    conf = tmp_path / "c.conf"
    conf.write_text(f"[supervisord]\nlogfile={tmp_path}/m.log\n[program:web]\ncommand=/bin/true\n")
    maker = Maker(load(str(conf)).groups[0].processes[0], tmp_path)
    yield maker
    maker.close()


def wait_up(child: Spawned) -> None:
    """The child printed 'up': its exec is complete (close-on-exec done, handlers reset)."""
    ready, _, _ = select.select([child.stdout_fd], [], [], 30)
    assert ready, "child never started"
    assert os.read(child.stdout_fd, 100) == b"up\n"


def child_fds(pid: int) -> dict[int, str]:
    """fd number -> what it is (pipe:[inode]...); for our own pid, less the listing's fd."""
    fds = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            pass
    return fds


def status_field(pid: int, name: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(name)


def signals_in(mask_hex: str) -> set[int]:
    mask = int(mask_hex, 16)
    return {n + 1 for n in range(64) if mask >> n & 1}


def zombies() -> list[int]:
    return [c.pid for c in psutil.Process().children() if c.status() == psutil.STATUS_ZOMBIE]


def run_script(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("path", PATHS)
def test_child_has_only_its_stdio_open(make, path):
    stray = os.open(os.devnull, os.O_RDONLY)  # as if the daemon had been started holding it
    os.set_inheritable(stray, True)
    try:
        seal_inherited_fds()
        child = make.start(make.cfg(path=path))
        wait_up(child)
        fds = child_fds(child.pid)
        assert sorted(fds) == [0, 1, 2]
        mine = child_fds(os.getpid())
        assert fds[0] != fds[1] != fds[2] != fds[0]  # three pipes: stdin, stdout, stderr
        assert fds[1] == mine[child.stdout_fd] and fds[2] == mine[child.stderr_fd]
        assert not os.get_inheritable(stray)
    finally:
        os.close(stray)


def test_redirect_stderr_shares_the_stdout_pipe(make):
    child = make.start(make.cfg(redirect_stderr=True))
    wait_up(child)
    fds = child_fds(child.pid)
    assert child.stderr_fd is None and fds[1] == fds[2]


@pytest.mark.parametrize("path", PATHS)
def test_pass_fds_land_at_their_numbers_and_nothing_else_comes(make, path):
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    c_r, c_w = os.pipe()
    try:
        # a_w at 3 and b_w at 9; c_w goes to b_w's own number, so b_w must be moved first
        # (and a pass onto an fd's own number must still clear its close-on-exec)
        wanted = {3: a_w, 9: b_w, b_w: c_w, c_w: c_w}
        child = make.start(make.cfg(path=path), pass_fds=wanted)
        wait_up(child)
        fds = child_fds(child.pid)
        mine = child_fds(os.getpid())
        assert sorted(fds) == sorted({0, 1, 2, *wanted})
        for number, parent in wanted.items():
            assert fds[number] == mine[parent], number
        assert set(child_fds(os.getpid())) == set(mine)  # the temporary copies are closed
    finally:
        for fd in (a_r, a_w, b_r, b_w, c_r, c_w):
            os.close(fd)


def test_pass_fds_cannot_replace_stdio(make):
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="stdin/stdout/stderr"):
            spawn(make.cfg(), {}, identity=None, pass_fds={1: w})
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("path", PATHS)
def test_child_leads_its_own_process_group(make, path):
    child = make.start(make.cfg(path=path))
    wait_up(child)
    assert os.getpgid(child.pid) == child.pid != os.getpgid(0)


@pytest.mark.parametrize("path", PATHS)
def test_child_starts_with_default_signals_and_an_empty_mask(make, path):
    # Python ignores SIGPIPE and SIGXFSZ; the daemon's handlers are caught, not ignored;
    # a thread that spawns may have signals blocked.
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    old = signal.signal(signal.SIGUSR2, signal.SIG_IGN)  # as if inherited
    result: list[Spawned | BaseException] = []

    def spawner() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
        try:
            result.append(make.start(make.cfg(path=path)))
        except BaseException as e:
            result.append(e)

    try:
        t = threading.Thread(target=spawner)
        t.start()
        t.join()
    finally:
        signal.signal(signal.SIGUSR2, old)
    child = result[0]
    assert isinstance(child, Spawned)
    wait_up(child)
    assert signals_in(status_field(child.pid, "SigBlk")) == set()
    ignored = signals_in(status_field(child.pid, "SigIgn"))
    assert not ignored & {signal.SIGPIPE, signal.SIGXFSZ}
    if path == "posix_spawn":
        # every signal a program can name (glibc's spawn leaves its own 32 and 33 ignored);
        # Popen resets only the two Python ignores, and the daemon ignores no other
        assert not ignored & set(signal.valid_signals())


def write_noexec(tmp_path: Path) -> str:
    prog = tmp_path / "not-a-program"
    prog.write_bytes(b"\x7fELF garbage\x00\x01")
    prog.chmod(0o755)
    return str(prog)


def write_bad_interpreter(tmp_path: Path) -> str:
    prog = tmp_path / "bad-shebang"
    prog.write_text("#!/nonexistent/interpreter\n")
    prog.chmod(0o755)
    return str(prog)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("writer", "code"), [(write_noexec, "ENOEXEC"), (write_bad_interpreter, "ENOENT")]
)
def test_exec_failure_is_reported_waited_for_and_leaks_nothing(make, tmp_path, path, writer, code):
    prog = writer(tmp_path)
    fds_before = set(child_fds(os.getpid()))
    kids_before = {c.pid for c in psutil.Process().children()}
    with pytest.raises(SpawnFailure) as failed:
        spawn(make.cfg(prog + " --flag", path=path), dict(os.environ), identity=None)
    assert failed.value.message == f"couldn't exec {prog}: {code}"
    assert set(child_fds(os.getpid())) == fds_before
    # the failed child was waited for inside the call: no zombie, no child left for a reaper
    assert {c.pid for c in psutil.Process().children()} == kids_before
    assert zombies() == []


@pytest.mark.parametrize(
    ("where", "code"), [("missing", "ENOENT"), ("a-file", "ENOTDIR")], ids=["missing", "file"]
)
def test_chdir_failure_message(make, tmp_path, where, code):
    (tmp_path / "a-file").write_text("")
    directory = str(tmp_path / where)
    with pytest.raises(SpawnFailure) as failed:
        spawn(make.cfg(directory=directory), dict(os.environ), identity=None)
    assert failed.value.message == f"couldn't chdir to {directory}: {code}"
    assert zombies() == []


def test_directory_is_the_childs_cwd(make, tmp_path):
    child = make.start(make.cfg(directory=str(tmp_path)))
    wait_up(child)
    assert os.readlink(f"/proc/{child.pid}/cwd") == str(tmp_path)


@pytest.mark.parametrize("umask", [0o077, 0o002])
def test_umask_applied(make, umask):
    child = make.start(make.cfg(umask=umask))
    wait_up(child)
    assert int(status_field(child.pid, "Umask"), 8) == umask


def test_without_umask_the_child_keeps_the_daemons(make):
    mine = os.umask(0o027)
    try:
        child = make.start(make.cfg())
    finally:
        os.umask(mine)
    wait_up(child)
    assert int(status_field(child.pid, "Umask"), 8) == 0o027


@pytest.mark.parametrize("path", PATHS)
def test_environment_is_exactly_the_one_given(make, path):
    env = {"PATH": "/usr/bin:/bin", "ONLY_HERE": "x=y z", "EMPTY": ""}
    child = make.start(make.cfg(path=path), env)
    wait_up(child)
    raw = Path(f"/proc/{child.pid}/environ").read_bytes()
    assert dict(item.split("=", 1) for item in raw.decode().split("\0") if item) == env


@pytest.mark.parametrize(
    ("args", "expected"),
    [('a \'b c\' "d\\"e"', 'a|b c|d"e|'), ("  a\tb  ", "a|b|")],
    ids=["quoted", "plain"],
)
def test_argv_is_split_like_a_shell(make, tmp_path, args, expected):
    out = tmp_path / "argv"
    show = tmp_path / "show"
    show.write_text(f"#!/bin/sh\nprintf '%s|' \"$@\" > {out}\necho up\nread x\n")
    show.chmod(0o755)
    child = make.start(make.cfg(f"{show} {args}"))
    wait_up(child)
    assert out.read_text() == expected


def test_fast_split_matches_shlex():
    import shlex

    for command in ("/bin/sleep 60", "  a\tb\r\nc ", "x #not-a-comment", "", "a\u00a0b", "a\x0bb"):
        assert spawn_mod.split_command(command) == shlex.split(command), command


@pytest.mark.parametrize("path", PATHS)
def test_popen_never_waits_for_the_child(make, path):
    # The caller (the reaper) collects the exit; Popen, on the second path, must not have.
    child = spawn(make.cfg("/bin/sh -c 'exit 7'", path=path), {}, identity=None)
    for fd in (child.stdin_fd, child.stdout_fd, child.stderr_fd):
        if fd is not None:
            os.close(fd)
    pid, status = os.waitpid(child.pid, 0)
    assert pid == child.pid and os.waitstatus_to_exitcode(status) == 7
    gc.collect()  # a Popen that thought its child still ran would warn (an error here)


def test_failure_texts_for_the_os_errors(make):
    # EAGAIN (no room in the process table) cannot be provoked as root; the texts are fixed.
    cfg = make.cfg(directory="/srv/app", uid=1000)
    describe = spawn_mod._describe_failure
    prog = "/usr/bin/web"
    cases = [
        (OSError(errno.EAGAIN, "", prog), "Too many processes in process table to spawn 'web'"),
        (OSError(errno.EMFILE, "", prog), "too many open files to spawn 'web'"),
        (OSError(errno.ENFILE, "", None), "too many open files to spawn 'web'"),
        (OSError(errno.ENOENT, "", "/srv/app"), "couldn't chdir to /srv/app: ENOENT"),
        (PermissionError(errno.EPERM, "", "/srv/app"), "couldn't setuid to 1000: EPERM"),
        (PermissionError(errno.EACCES, "", prog), "couldn't exec web: EACCES"),
    ]
    for err, text in cases:
        assert describe(err, cfg, prog, "web") == text
    nodir = dataclasses.replace(cfg, directory=None)
    assert describe(PermissionError(errno.EPERM, "", None), nodir, prog, "web") == (
        "couldn't setuid to 1000: EPERM"
    )


def test_too_many_open_files(tmp_path):
    out = run_script(f"""
        import os, resource
        from corral.config import load
        from corral.runtime.spawn import spawn, SpawnFailure
        conf = "{tmp_path}/c.conf"
        open(conf, "w").write("[supervisord]\\n[program:p]\\ncommand=/bin/sleep 60\\n")
        cfg = load(conf).groups[0].processes[0]
        before = sorted(os.listdir("/proc/self/fd"))
        top = max(int(fd) for fd in before)
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (top + 4, hard))
        try:
            spawn(cfg, dict(os.environ), identity=None)
        except SpawnFailure as e:
            print(e.message)
        assert sorted(os.listdir("/proc/self/fd")) == before, "leaked an fd"
    """)
    assert out.strip() == "too many open files to spawn 'p'"


@pytest.mark.skipif(not ROOT, reason="switching users needs root")
def test_user_switch_sets_uid_gid_and_groups(make):
    nobody = identity_for(65534)
    cfg = make.cfg(uid=nobody.uid)
    child = spawn(cfg, dict(os.environ), identity=nobody)
    try:
        wait_up(child)
        assert status_field(child.pid, "Uid").split() == [str(nobody.uid)] * 4
        assert status_field(child.pid, "Gid").split() == [str(nobody.gid)] * 4
        assert {int(g) for g in status_field(child.pid, "Groups").split()} == set(nobody.groups)
        assert os.getpgid(child.pid) == child.pid
    finally:
        for fd in (child.stdin_fd, child.stdout_fd, child.stderr_fd):
            if fd is not None:
                os.close(fd)
        os.waitpid(child.pid, 0)


@pytest.mark.skipif(not ROOT, reason="needs root to become an ordinary user first")
def test_setuid_failure_message(tmp_path):
    # An ordinary user cannot switch to root: setgroups fails with EPERM, before exec.
    tmp_path.chmod(0o755)
    out = run_script(f"""
        import dataclasses, os
        from corral.config import load
        from corral.runtime.spawn import Identity, spawn, SpawnFailure
        conf = "{tmp_path}/c.conf"
        open(conf, "w").write("[supervisord]\\n[program:p]\\ncommand=/bin/sleep 60\\n")
        cfg = dataclasses.replace(load(conf).groups[0].processes[0], uid=0)
        root = Identity(0, 0, (0,), "root", "/root")
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        for directory in (None, "/tmp"):
            try:
                spawn(dataclasses.replace(cfg, directory=directory), {{}}, identity=root)
            except SpawnFailure as e:
                print(e.message)
    """)
    assert out.splitlines() == ["couldn't setuid to 0: EPERM"] * 2


RACE = """
    import contextlib, os, select, signal, sys, threading, time
    import dataclasses
    from corral.config import load
    from corral.logs.mainlog import MainLog
    import corral.runtime.reaper
    from corral.runtime.reaper import Reaper
    from corral.runtime.spawn import SpawnFailure, spawn

    tmp, gated = sys.argv[1], sys.argv[2] == "gated"
    conf = tmp + "/c.conf"
    open(conf, "w").write("[supervisord]\\n[program:p]\\ncommand=/bin/cat\\n")
    base = load(conf).groups[0].processes[0]
    bad = tmp + "/not-a-program"
    good = [base, dataclasses.replace(base, directory=tmp)]
    failing = [dataclasses.replace(c, command=bad) for c in good]
    log = MainLog(tmp + "/main.log", 0, 0, "info", echo=False)
    reaper = Reaper(log)
    exits = {}
    stop = threading.Event()

    # The daemon's reaper runs when SIGCHLD wakes the loop; here a thread does, so that
    # spawns run beside it (as they would from an executor while the loop serves).
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    if not gated:  # the control: the reaper as it was before the gate
        corral.runtime.reaper.reap_gate = contextlib.nullcontext()

    def reap_loop():
        while not stop.is_set():
            if select.select([wake_r], [], [], 0.05)[0]:
                os.read(wake_r, 4096)
            reaper.reap()

    t = threading.Thread(target=reap_loop)
    t.start()
    pids = []
    for _ in range(60):
        for cfg in good:
            child = spawn(cfg, {}, identity=None)
            reaper.watch(child.pid, lambda status, pid=child.pid: exits.__setitem__(pid, status))
            pids.append(child.pid)
            for fd in (child.stdin_fd, child.stdout_fd, child.stderr_fd):
                os.close(fd)  # cat sees end of input and exits 0
        for cfg in failing:
            try:
                spawn(cfg, {}, identity=None)
            except SpawnFailure as e:
                assert e.message.startswith("couldn't exec"), e.message
    deadline = time.monotonic() + 30
    while len(exits) < len(pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join()
    log.close()
    lost = [p for p in pids if p not in exits]
    bad_exit = [p for p, s in exits.items() if s != 0]
    unknown = open(tmp + "/main.log").read().count("reaped unknown pid")
    try:
        left = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        left = None
    print(len(pids), len(lost), len(bad_exit), unknown, left)
"""


def test_failed_exec_is_never_the_reapers_with_the_gate(tmp_path):
    """The one-reaper rule with spawns beside a reaper: every exit reaches its watcher once,
    a failed exec is waited for by its spawn call alone (the reaper never sees its pid), and
    nothing is left. Without `reap_gate` the reaper may win that race."""
    write_noexec(tmp_path)
    code = textwrap.dedent(RACE)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), "gated"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["120", "0", "0", "0", "None"]


def test_an_fd_made_inheritable_after_the_seal_stays_behind(make, posix_spawn_impl):
    if posix_spawn_impl == "libc" and libc_spawn._closefrom is None:
        pytest.skip("posix_spawn_file_actions_addclosefrom_np is glibc 2.34+")
    if posix_spawn_impl == "os" and spawn_mod._CLOSEFROM is None:
        pytest.skip("POSIX_SPAWN_CLOSEFROM is Python 3.13+")
    seal_inherited_fds()
    late = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(late, True)
    try:
        child = make.start(make.cfg())
        wait_up(child)
        assert sorted(child_fds(child.pid)) == [0, 1, 2]
    finally:
        os.close(late)


def test_reap_gate_keeps_reapers_and_spawns_apart():
    gate = spawn_mod.ReapGate()
    entered = threading.Event()

    def reaper() -> None:
        with gate:
            entered.set()

    gate.spawn_begin()
    gate.spawn_begin()  # spawns share it
    t = threading.Thread(target=reaper)
    t.start()
    t.join(0.1)
    assert t.is_alive() and not entered.is_set()  # a reaper waits for spawns in flight
    gate.spawn_end()
    t.join(0.1)
    assert not entered.is_set()
    gate.spawn_end()
    t.join(30)
    assert entered.is_set()

    started = threading.Event()

    def spawner() -> None:
        gate.spawn_begin()
        started.set()
        gate.spawn_end()

    with gate:
        s = threading.Thread(target=spawner)
        s.start()
        s.join(0.1)
        assert not started.is_set()  # and a spawn waits for a reaper
    s.join(30)
    assert started.is_set()
