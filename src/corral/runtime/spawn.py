"""Starting one child: command lookup, pipes, identity, umask, cwd, environment, process group.

Only this module creates child processes; `reaper.py` collects them.

Two ways in. The common case is libc's posix_spawn (glibc: clone with CLONE_VM|CLONE_VFORK, so
it costs what a bare posix_spawn loop costs, and an exec error comes back as the OSError),
called through `libc_spawn` so the GIL is released while it runs; `os.posix_spawn`, which
holds it, where ctypes cannot load libc.
File actions put the pipes at 0, 1, 2 and each `pass_fds` entry at its number; the child gets
its own process group, every signal at its default disposition and an empty signal mask.
posix_spawn cannot chdir, set a umask or switch user, so a program with `directory=`,
`umask=` or another user goes through `subprocess.Popen`, the public and version-stable front
of `_posixsubprocess` (vfork where it can, close_fds by close_range). Popen resets only the
signals the interpreter ignores (SIGPIPE, SIGXFSZ); the daemon catches the others it cares
about, and a caught signal is default after exec anyway. With `pass_fds` as well, a
preexec_fn puts them in place: a plain fork, for that combination only.

Descriptors. posix_spawn closes nothing, so every descriptor of the daemon above 2 must be
close-on-exec. Python opens every one so (PEP 446: files, pipes, sockets, dups; only
os.dup2 and os.set_inheritable make one inheritable, and corral uses dup2 only onto 0-2 when
it daemonizes); the ones the daemon was started with are marked by `seal_inherited_fds`,
before the first spawn. On Python 3.13+ the child also closes everything above its last
descriptor (POSIX_SPAWN_CLOSEFROM), so even one made inheritable later stays behind.

Waits: the one-reaper rule. A child whose exec failed is waited for inside the spawn call
that made it (glibc's posix_spawn does, and so does Popen), before its pid is known to
anyone; a child that exec'd is never waited for here. So the reaper's waitpid(-1) must not
run while a spawn call is in flight: it could reap that failed child first (and log an
unknown pid), and the spawn's own wait would then be for a pid that may be reused by then.
`reap_gate` keeps the two apart: spawn() holds it shared, the reaper alone around its
waitpid loop (`with reap_gate: ...`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import pwd
import re
import resource
import shlex
import signal
import stat
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from corral.config.envfile import EnvFile, EnvFileError, read_env_files
from corral.config.model import ProcessConfig
from corral.runtime import libc_spawn

DEFAULT_PATH = "/bin:/usr/bin:/usr/local/bin"

# Every signal a child may start with at its default disposition (all that can be set).
_SIGDEF = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))
_DUP2 = os.POSIX_SPAWN_DUP2
_CLOSEFROM: int | None = getattr(os, "POSIX_SPAWN_CLOSEFROM", None)  # Python 3.13+
# A command without quotes, backslashes or unusual whitespace splits as shlex would split it.
_NEEDS_SHLEX = re.compile(r"[\"'\\]|[^\S \t\r\n]")


class SpawnFailure(Exception):
    """The child could not be started; `message` is what status and the log show."""

    def __init__(self, message: str, kind: str = "spawn") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # 'nofile' | 'notexec' | 'spawn' | 'envfile' | 'fds'


def split_command(command: str) -> list[str]:
    if _NEEDS_SHLEX.search(command) is None:
        return command.split()
    return shlex.split(command)


def resolve_command(command: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Split the command and find the program, the way a user expects from a shell."""
    try:
        argv = split_command(command)
    except ValueError as e:
        raise SpawnFailure(f"can't parse command {command!r}: {e}", "notexec") from None
    if not argv:
        raise SpawnFailure("command is empty", "notexec")
    program = argv[0]
    if "/" in program:
        filename = program
        try:
            st = os.stat(filename)
        except (OSError, ValueError):
            raise SpawnFailure(f"can't find command {program!r}", "nofile") from None
    else:
        path = environ.get("PATH", DEFAULT_PATH)
        found: tuple[str, os.stat_result] | None = None
        for directory in path.split(os.pathsep):
            candidate = os.path.join(directory, program)
            try:
                found = (candidate, os.stat(candidate))
            except (OSError, ValueError):
                continue
            break
        if found is None:
            raise SpawnFailure(f"can't find command {program!r}", "nofile")
        filename, st = found
    if stat.S_ISDIR(st.st_mode):
        raise SpawnFailure(f"command at {filename!r} is a directory", "notexec")
    if not st.st_mode & 0o111:
        raise SpawnFailure(f"command at {filename!r} is not executable", "notexec")
    if not os.access(filename, os.X_OK):
        raise SpawnFailure(f"no permission to run command {filename!r}", "notexec")
    return filename, argv


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    name: str
    home: str


def identity_for(uid: int) -> Identity:
    pw = pwd.getpwuid(uid)
    try:
        groups = tuple(os.getgrouplist(pw.pw_name, pw.pw_gid))
    except OSError:
        groups = (pw.pw_gid,)
    return Identity(uid, pw.pw_gid, groups, pw.pw_name, pw.pw_dir)


def child_environment(
    cfg: ProcessConfig,
    group: str,
    *,
    base: Mapping[str, str],
    daemon_env: tuple[tuple[str, str], ...],
    server_url: str | None,
    identity: Identity | None,
    daemon_files: tuple[EnvFile, ...] = (),
) -> dict[str, str]:
    """The child's environment: ours < [supervisord] environment_file < its environment <
    the program's environment_file < its environment. Files are read now, at every spawn
    (a rotated secret reaches the next start); SpawnFailure names a bad file and line."""
    env = dict(base)
    env["SUPERVISOR_ENABLED"] = "1"
    env["SUPERVISOR_PROCESS_NAME"] = cfg.name
    env["SUPERVISOR_GROUP_NAME"] = group
    url = cfg.serverurl if cfg.serverurl != "AUTO" else server_url
    if url:
        env["SUPERVISOR_SERVER_URL"] = url
    if identity is not None:
        # A program that runs as another user should see that user's home and name.
        env["HOME"] = identity.home
        env["USER"] = identity.name
        env["LOGNAME"] = identity.name
    try:
        if daemon_files:
            env.update(read_env_files(daemon_files))
        env.update(daemon_env)
        if cfg.output.environment_files:
            env.update(read_env_files(cfg.output.environment_files))
    except EnvFileError as e:
        raise SpawnFailure(str(e), "envfile") from None
    env.update(cfg.environment)
    return env


@dataclass(slots=True)
class Spawned:
    pid: int
    stdin_fd: int | None  # parent's write end
    stdout_fd: int  # parent's read end
    stderr_fd: int | None  # parent's read end, None with redirect_stderr


class ReapGate:
    """Spawn calls in flight (any number, any threads) or reapers, never both at once.
    A waiting reaper goes first: no new spawn call starts until it is done."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._spawns = 0
        self._reapers = 0

    def spawn_begin(self) -> None:
        with self._lock:  # the plain lock: the common case never waits
            if not self._reapers:
                self._spawns += 1
                return
        with self._cond:
            while self._reapers:
                self._cond.wait()
            self._spawns += 1

    def spawn_end(self) -> None:
        with self._lock:
            self._spawns -= 1
            if self._spawns or not self._reapers:
                return
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> None:
        with self._cond:
            self._reapers += 1
            while self._spawns:
                self._cond.wait()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._cond:
            self._reapers -= 1
            if not self._reapers:
                self._cond.notify_all()


reap_gate = ReapGate()
_sealed = False

# Programs may not take the daemon's last fds: with none left, no client could connect to
# stop one (accept() would fail for as long as they run). The kernel hands out the lowest
# free fd, so a pipe numbered at or above the ceiling means at most FD_RESERVE are free.
FD_RESERVE = 16


def _fd_ceiling() -> int:
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return (1 << 30) if soft == resource.RLIM_INFINITY else soft - FD_RESERVE


def seal_inherited_fds() -> None:
    """Make every descriptor above 2 close-on-exec: a daemon may be started holding
    inheritable ones, and posix_spawn would hand them to every child."""
    global _sealed
    _sealed = True
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = os.listdir("/dev/fd")
    for name in names:
        fd = int(name)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    os.set_inheritable(fd, False)
            except OSError:
                pass  # the listing's own descriptor, closed by now


def _errno_name(err: OSError) -> str:
    return errno.errorcode.get(err.errno or 0, str(err.errno))


def spawn(
    cfg: ProcessConfig,
    env: dict[str, str],
    *,
    identity: Identity | None,
    stdin_socket: int | None = None,
    pass_fds: Mapping[int, int] | None = None,
) -> Spawned:
    """Start the child in its own process group. `pass_fds` maps a descriptor number in the
    child to the parent's descriptor it gets there; the child has nothing else open but 0-2.
    Raises SpawnFailure."""
    if pass_fds and min(pass_fds) < 3:
        raise ValueError(f"pass_fds may not replace stdin/stdout/stderr: {sorted(pass_fds)}")
    filename, argv = resolve_command(cfg.command, env)
    if not _sealed:
        seal_inherited_fds()
    fds: list[int] = []
    try:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        fds += [out_r, out_w]
        if cfg.redirect_stderr:
            err_r, err_w = None, out_w
        else:
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            fds += [err_r, err_w]
        if stdin_socket is None:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            fds += [in_r, in_w]
            child_stdin: int = in_r
            parent_stdin: int | None = in_w
        else:
            child_stdin, parent_stdin = stdin_socket, None
    except OSError as e:
        for opened in fds:
            os.close(opened)
        if e.errno in (errno.EMFILE, errno.ENFILE):
            raise SpawnFailure(f"too many open files to spawn {cfg.name!r}", "fds") from None
        raise SpawnFailure(f"unknown error making dispatchers for {cfg.name!r}: {e}") from None
    if max(fds, default=0) >= _fd_ceiling():
        for opened in fds:
            os.close(opened)
        raise SpawnFailure(
            f"too many open files to spawn {cfg.name!r} (the last {FD_RESERVE} are kept for"
            " control connections)",
            "fds",
        )

    # (parent fd, child fd), in the order the child applies them
    moves = [(child_stdin, 0), (out_w, 1), (err_w, 2)]
    if pass_fds:
        moves += [(parent, child) for child, parent in pass_fds.items()]
    temps: list[int] = []
    reap_gate.spawn_begin()
    try:
        if pass_fds or min(child_stdin, out_w, err_w) < 3:
            _untangle(moves, temps)
        if cfg.directory is None and cfg.umask is None and not _switches(identity):
            if libc_spawn.available:  # releases the GIL: other spawn threads go on
                pid = libc_spawn.posix_spawn(filename, argv, env, moves)
            else:
                pid = os.posix_spawn(
                    filename,
                    argv,
                    env,
                    file_actions=_file_actions(moves),
                    setpgroup=0,
                    setsigmask=(),
                    setsigdef=_SIGDEF,
                )
        else:
            pid = _popen(cfg, filename, argv, env, identity, moves)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        for parent_fd in (out_r, err_r, parent_stdin):
            if parent_fd is not None:
                os.close(parent_fd)
        if isinstance(e, OSError):
            raise SpawnFailure(_describe_failure(e, cfg, filename, argv[0])) from None
        raise SpawnFailure(f"couldn't spawn {argv[0]!r}: {e}") from None
    finally:
        reap_gate.spawn_end()
        # The child has its copies now (or never will).
        os.close(out_w)
        if err_w != out_w:
            os.close(err_w)
        if stdin_socket is None:
            os.close(child_stdin)
        for temp in temps:
            os.close(temp)
    for parent_fd in (out_r, err_r, parent_stdin):
        if parent_fd is not None:
            os.set_blocking(parent_fd, False)
    return Spawned(pid, parent_stdin, out_r, err_r)


def _file_actions(moves: list[tuple[int, int]]) -> list[tuple[int, ...]]:
    actions: list[tuple[int, ...]] = [(_DUP2, parent, child) for parent, child in moves]
    if _CLOSEFROM is not None:
        # belt and braces: even an inheritable fd above the child's last stays behind
        actions.append((_CLOSEFROM, max(child for _, child in moves) + 1))
    return actions


def _switches(identity: Identity | None) -> bool:
    return identity is not None and identity.uid != os.geteuid()


def _untangle(moves: list[tuple[int, int]], temps: list[int]) -> None:
    """Moves are applied in order in the child, so a parent fd that is also some move's
    target (or its own: a dup2 onto itself would keep close-on-exec) is first copied above
    every target, into `temps` for the caller to close. Rare: 0-2 are taken in a daemon."""
    targets = {child for _, child in moves}
    for i, (parent, child) in enumerate(moves):
        if parent in targets:
            temps.append(fcntl.fcntl(parent, fcntl.F_DUPFD_CLOEXEC, max(targets) + 1))
            moves[i] = (temps[-1], child)


def _popen(
    cfg: ProcessConfig,
    filename: str,
    argv: list[str],
    env: dict[str, str],
    identity: Identity | None,
    moves: list[tuple[int, int]],
) -> int:
    """The path for what posix_spawn cannot do: chdir, umask, another user."""
    extra = moves[3:]
    user = identity if identity is not None and _switches(identity) else None
    # Popen hands the calling thread's signal mask on; a child starts with nothing blocked.
    blocked = signal.pthread_sigmask(signal.SIG_SETMASK, ())
    try:
        popen = subprocess.Popen(
            argv,
            executable=filename,
            stdin=moves[0][0],
            stdout=moves[1][0],
            stderr=moves[2][0],
            cwd=cfg.directory,
            env=env,
            # with extra fds, the rest is closed by close-on-exec, as on the posix_spawn path
            close_fds=not extra,
            preexec_fn=_placer(extra) if extra else None,
            process_group=0,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=list(user.groups) if user else None,
            umask=cfg.umask if cfg.umask is not None else -1,
        )
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    # The pid is the reaper's: Popen must never wait for it (nor warn that it is running).
    popen.returncode = 0
    return popen.pid


def _placer(extra: list[tuple[int, int]]) -> Callable[[], None]:
    def place() -> None:  # in the child, after its 0-2 are in place
        for parent, child in extra:
            os.dup2(parent, child)

    return place


def _describe_failure(e: OSError, cfg: ProcessConfig, filename: str, program: str) -> str:
    if e.errno == errno.EAGAIN:
        return f"Too many processes in process table to spawn {cfg.name!r}"
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return f"too many open files to spawn {cfg.name!r}"
    if e.filename != filename:
        # Before exec, in the child (Popen names the directory or nothing): chdir comes
        # first, then setgroups/setgid/setuid, which fail with EPERM and chdir never does.
        if cfg.directory is not None and e.errno != errno.EPERM:
            return f"couldn't chdir to {cfg.directory}: {_errno_name(e)}"
        return f"couldn't setuid to {cfg.uid}: {_errno_name(e)}"
    return f"couldn't exec {program}: {_errno_name(e)}"
