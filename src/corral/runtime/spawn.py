"""Fork/exec of one child: command lookup, pipes, uid, umask, cwd, environment, process group.

Only this module creates child processes. It never waits for them: `reaper.py` owns waitpid.
"""

from __future__ import annotations

import errno
import os
import pwd
import shlex
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from corral.config.model import ProcessConfig

DEFAULT_PATH = "/bin:/usr/bin:/usr/local/bin"


class SpawnFailure(Exception):
    """The child could not be started; `message` is what status and the log show."""

    def __init__(self, message: str, kind: str = "spawn") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # 'nofile' | 'notexec' | 'spawn'


def resolve_command(command: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """Split the command and find the program, the way a user expects from a shell."""
    try:
        argv = shlex.split(command)
    except ValueError as e:
        raise SpawnFailure(f"can't parse command {command!r}: {e}", "notexec") from None
    if not argv:
        raise SpawnFailure("command is empty", "notexec")
    program = argv[0]
    if "/" in program:
        filename = program
        try:
            st = os.stat(filename)
        except OSError:
            raise SpawnFailure(f"can't find command {program!r}", "nofile") from None
    else:
        path = environ.get("PATH", DEFAULT_PATH)
        found: tuple[str, os.stat_result] | None = None
        for directory in path.split(os.pathsep):
            candidate = os.path.join(directory, program)
            try:
                found = (candidate, os.stat(candidate))
            except OSError:
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
) -> dict[str, str]:
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
    env.update(daemon_env)
    env.update(cfg.environment)
    return env


@dataclass
class Spawned:
    popen: subprocess.Popen[bytes]
    stdin_fd: int | None  # parent's write end
    stdout_fd: int  # parent's read end
    stderr_fd: int | None  # parent's read end, None with redirect_stderr


def _errno_name(err: OSError) -> str:
    return errno.errorcode.get(err.errno or 0, str(err.errno))


def spawn(
    cfg: ProcessConfig,
    env: dict[str, str],
    *,
    identity: Identity | None,
    stdin_socket: int | None = None,
) -> Spawned:
    """Start the child in its own process group. Raises SpawnFailure."""
    filename, argv = resolve_command(cfg.command, env)
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
            raise SpawnFailure(f"too many open files to spawn {cfg.name!r}") from None
        raise SpawnFailure(f"unknown error making dispatchers for {cfg.name!r}: {e}") from None

    switch = identity is not None and identity.uid != os.geteuid()
    try:
        popen = subprocess.Popen(
            argv,
            executable=filename,
            stdin=child_stdin,
            stdout=out_w,
            stderr=err_w,
            cwd=cfg.directory,
            env=env,
            close_fds=True,
            process_group=0,
            user=identity.uid if switch and identity else None,
            group=identity.gid if switch and identity else None,
            extra_groups=list(identity.groups) if switch and identity else None,
            umask=cfg.umask if cfg.umask is not None else -1,
        )
    except (OSError, subprocess.SubprocessError) as e:
        for parent_fd in (out_r, err_r, parent_stdin):
            if parent_fd is not None:
                os.close(parent_fd)
        if isinstance(e, OSError):
            raise SpawnFailure(_describe_failure(e, cfg, argv[0])) from None
        raise SpawnFailure(f"couldn't spawn {argv[0]!r}: {e}") from None
    finally:
        # The child has its copies now (or never will).
        os.close(out_w)
        if err_w != out_w:
            os.close(err_w)
        if stdin_socket is None:
            os.close(child_stdin)
    for parent_fd in (out_r, err_r, parent_stdin):
        if parent_fd is not None:
            os.set_blocking(parent_fd, False)
    return Spawned(popen, parent_stdin, out_r, err_r)


def _describe_failure(e: OSError, cfg: ProcessConfig, program: str) -> str:
    if e.errno == errno.EAGAIN:
        return f"Too many processes in process table to spawn {cfg.name!r}"
    if e.errno in (errno.EMFILE, errno.ENFILE):
        return f"too many open files to spawn {cfg.name!r}"
    if cfg.directory is not None and e.filename == cfg.directory:
        return f"couldn't chdir to {cfg.directory}: {_errno_name(e)}"
    if isinstance(e, PermissionError) and e.filename is None:
        return f"couldn't setuid to {cfg.uid}: {_errno_name(e)}"
    return f"couldn't exec {program}: {_errno_name(e)}"
