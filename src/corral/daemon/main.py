"""corrald: supervisord's command line, then config, privileges, limits, logs, and the loop."""

from __future__ import annotations

import asyncio
import contextlib
import getopt
import os
import pwd
import resource
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral import __version__

if TYPE_CHECKING:
    from corral.config.model import Config
    from corral.server.http import HttpServers

SHORT = "c:m:d:u:vnhl:y:z:e:j:i:q:ka:ts?"
LONG = [
    "configuration=",
    "nodaemon",
    "silent",
    "help",
    "version",
    "user=",
    "umask=",
    "directory=",
    "logfile=",
    "logfile_maxbytes=",
    "logfile_backups=",
    "loglevel=",
    "pidfile=",
    "identifier=",
    "childlogdir=",
    "nocleanup",
    "minfds=",
    "strip_ansi",
    "minprocs=",
    "profile_options=",
    "container",
]

# flag -> [supervisord] option it overrides; None-valued flags are booleans
VALUED = {
    "-u": "user",
    "--user": "user",
    "-m": "umask",
    "--umask": "umask",
    "-d": "directory",
    "--directory": "directory",
    "-l": "logfile",
    "--logfile": "logfile",
    "-y": "logfile_maxbytes",
    "--logfile_maxbytes": "logfile_maxbytes",
    "-z": "logfile_backups",
    "--logfile_backups": "logfile_backups",
    "-e": "loglevel",
    "--loglevel": "loglevel",
    "-j": "pidfile",
    "--pidfile": "pidfile",
    "-i": "identifier",
    "--identifier": "identifier",
    "-q": "childlogdir",
    "--childlogdir": "childlogdir",
    "-a": "minfds",
    "--minfds": "minfds",
    "--minprocs": "minprocs",
}
FLAGS = {
    "-n": "nodaemon",
    "--nodaemon": "nodaemon",
    "-s": "silent",
    "--silent": "silent",
    "-k": "nocleanup",
    "--nocleanup": "nocleanup",
    "-t": "strip_ansi",
    "--strip_ansi": "strip_ansi",
}

USAGE = """corrald -- run a set of programs and keep them running (Supervisor-compatible).

Usage: {prog} [options]

Options:
-c/--configuration FILENAME -- config file (default: searched like supervisord)
-n/--nodaemon -- stay in the foreground
-s/--silent -- in the foreground, do not copy the log to stdout
-h/--help -- print this usage message and exit
-v/--version -- print the version and exit
-u/--user USER -- run as this user (name or uid)
-m/--umask UMASK -- umask for the daemon (octal, e.g. 022)
-d/--directory DIRECTORY -- directory to chdir to when daemonized
-l/--logfile FILENAME -- the daemon's own log file
-y/--logfile_maxbytes BYTES -- rotate the log at this size (e.g. 50MB)
-z/--logfile_backups NUM -- rotated logs to keep
-e/--loglevel LEVEL -- critical, error, warn, info, debug, trace or blather
-j/--pidfile FILENAME -- write the daemon's pid here
-i/--identifier STR -- identifier reported over RPC and in events
-q/--childlogdir DIRECTORY -- where AUTO child logs go
-k/--nocleanup -- keep old AUTO child logs at start-up
-a/--minfds NUM -- file descriptors the daemon must be able to open
-t/--strip_ansi -- strip ANSI escapes from child output
--minprocs NUM -- processes the daemon must be able to fork
--profile_options OPTIONS -- accepted for compatibility; ignored
--container -- run as a container's entrypoint: foreground, every program's output and
    the main log on stdout, no AUTO log files, exit with the essential program's code
"""


CONTAINER = "--container"  # the key parse_args puts in overrides for --container


class UsageError(Exception):
    pass


def parse_args(argv: Sequence[str]) -> tuple[str | None, dict[str, str], str | None]:
    """(config path, overrides, action) where action is 'help', 'version' or None."""
    try:
        opts, args = getopt.getopt(list(argv), SHORT, LONG)
    except getopt.GetoptError as e:
        raise UsageError(str(e)) from None
    if args:
        raise UsageError(f"positional arguments are not supported: {args!r}")
    path: str | None = None
    overrides: dict[str, str] = {}
    seen: set[str] = set()
    for flag, value in opts:
        if flag in ("-h", "-?", "--help"):
            return None, {}, "help"
        if flag in ("-v", "--version"):
            return None, {}, "version"
        key = (
            "configuration"
            if flag in ("-c", "--configuration")
            else (VALUED.get(flag) or FLAGS.get(flag) or flag)
        )
        if key in seen:
            raise UsageError(f"conflicting command line option {flag!r}")
        seen.add(key)
        if flag == "--container":
            # not a [supervisord] option: it changes the defaults the config is read with
            overrides[CONTAINER] = "true"
        elif key == "configuration":
            path = value
        elif flag in FLAGS:
            overrides[key] = "true"
        elif flag == "--profile_options":
            continue
        else:
            _check_value(flag, key, value)
            overrides[key] = value
    return path, overrides, None


def _check_value(flag: str, key: str, value: str) -> None:
    """Refuse a bad flag value as supervisord does, naming the flag: `invalid value for -a
    'x': ...`. `user` is checked later, with the config's user, without the prefix."""
    if key == "user":
        return
    from corral.config.options import options_for

    try:
        options_for("supervisord")[key].convert(value)
    except ValueError as e:
        raise UsageError(f"invalid value for {flag} {value!r}: {e}") from None


def usage_error(prog: str, message: str) -> int:
    sys.stderr.write(f"Error: {message}\nFor help, use {prog} -h\n")
    return 2


def check_limits(minfds: int, minprocs: int) -> list[str]:
    """Raise RLIMIT_NOFILE/NPROC to the configured minimum; info lines for the log."""
    notes = []
    for limit, minimum, name, what in (
        (resource.RLIMIT_NOFILE, minfds, "RLIMIT_NOFILE", "minfds"),
        (resource.RLIMIT_NPROC, minprocs, "RLIMIT_NPROC", "minprocs"),
    ):
        soft, hard = resource.getrlimit(limit)
        if soft == resource.RLIM_INFINITY or soft >= minimum:
            continue
        new_hard = hard if hard == resource.RLIM_INFINITY or hard >= minimum else minimum
        try:
            resource.setrlimit(limit, (minimum, new_hard))
        except (ValueError, OSError):
            raise UsageError(
                f"The minimum number of {'file descriptors' if what == 'minfds' else 'processes'}"
                f" required to run this process is {minimum} as per the {what!r} setting, but "
                f"the current environment allows only {soft}. Raise the limit ({name}) or "
                f"lower {what} in the config file."
            ) from None
        notes.append(f"Increased {name} limit to {minimum}")
    return notes


ROOT_NOTE = (
    "Supervisor is running as root.  Privileges were not dropped because no user is "
    "specified in the config file.  If you intend to run as root, you can set user=root "
    "in the config file to avoid this message."
)


def drop_privileges(uid: int | None) -> str | None:
    """setuid to the configured user; the line to log when it switched, or UsageError."""
    if uid is None or os.getuid() == uid:
        return None
    if os.getuid() != 0:
        raise UsageError("Can't drop privilege as nonroot user")
    pw = pwd.getpwuid(uid)
    os.setgroups(os.getgrouplist(pw.pw_name, pw.pw_gid))
    os.setgid(pw.pw_gid)
    os.setuid(uid)
    return f"Set uid to user {uid} succeeded"


def main(argv: Sequence[str] | None = None) -> int:
    from corral.config import DEFAULT_SEARCH_PATHS, ConfigError, find_config_file, load

    # like supervisord, the help hint names the program as it was invoked
    prog = sys.argv[0] if argv is None else "corrald"
    args = sys.argv[1:] if argv is None else argv
    try:
        path, overrides, action = parse_args(args)
    except UsageError as e:
        return usage_error(prog, str(e))
    if action == "help":
        sys.stdout.write(USAGE.format(prog=prog))
        return 0
    if action == "version":
        sys.stdout.write(f"{__version__}\n")
        return 0
    if path is None:
        if os.geteuid() == 0:
            sys.stderr.write(
                "corrald: warning: running as root and searching for the config file in "
                "default locations (including the current directory); give -c an absolute "
                "path to be sure which file is read\n"
            )
        path = find_config_file(sys.argv[0])
        if path is None:
            paths = ", ".join(DEFAULT_SEARCH_PATHS(sys.argv[0]))
            return usage_error(
                prog,
                f"No config file found at default paths ({paths}); use "
                "the -c option to specify a config file at a different path",
            )
    elif not os.path.exists(path):
        return usage_error(prog, f"could not find config file {path}")
    path = os.path.abspath(path)
    container = overrides.pop(CONTAINER, None) is not None
    try:
        config = load(path, overrides=overrides, container=container)
    except ConfigError as e:
        return usage_error(prog, str(e))
    sd = config.supervisord
    if sd.uid is not None and sd.uid != os.getuid():
        # Load all of our code while we can still read it: a user we drop to may not be able
        # to read the interpreter's or our own install directory.
        # (psutil is otherwise first imported at shutdown, base64 by a base64 parameter)
        import base64  # noqa: F401

        import psutil  # noqa: F401

        import corral.runtime.supervisor
        import corral.server.http  # noqa: F401

    root_note = ROOT_NOTE if sd.uid is None and os.getuid() == 0 else None
    try:
        switched = drop_privileges(sd.uid)
        limit_notes = check_limits(sd.minfds, sd.minprocs)
    except UsageError as e:
        return usage_error(prog, str(e))
    if switched:
        limit_notes.insert(0, switched)
    return run(config, overrides, root_note=root_note, notes=limit_notes, prog=prog)


def run(
    config: Config,
    overrides: dict[str, str],
    *,
    root_note: str | None,
    notes: list[str],
    prog: str = "corrald",
) -> int:
    from corral.daemon.daemonize import Daemonizer
    from corral.logs.mainlog import MainLog
    from corral.runtime.supervisor import Supervisor

    sd = config.supervisord
    try:
        mainlog = MainLog(
            sd.logfile,
            sd.logfile_maxbytes,
            sd.logfile_backups,
            sd.loglevel,
            echo=sd.nodaemon and not sd.silent,
        )
    except OSError as e:
        return usage_error(prog, f"could not open the log file {sd.logfile}: {e.strerror}")
    from corral.server.sockets import Bound, ServerError, bind_all

    if any(inet.certfile for inet in config.inet_servers):
        from corral.runtime.lean import asyncio_ssl

        asyncio_ssl()  # a TLS server: asyncio gets its ssl module back
    try:
        # Bound before anything is spawned: a socket another daemon serves stops us here.
        bound = bind_all(config)
    except ServerError as e:
        mainlog.close()
        return usage_error(prog, str(e))
    daemonizer = Daemonizer()
    if not sd.nodaemon:
        daemonizer.fork(sd.directory, sd.umask)
    else:
        # 4.3 ignores these in the foreground; a container's config means them all the same.
        os.umask(sd.umask)
        if sd.directory:
            os.chdir(sd.directory)
    from corral.daemon import heap

    heap.tune()  # output moves through big short-lived buffers: keep them off mmap
    sup = Supervisor(config, mainlog, overrides=overrides)
    sup.output.configure_console()  # before the first line, so every line is on it
    if root_note:
        mainlog.critical(root_note)
    for warning in config.warnings:
        mainlog.log(warning.level, warning.message)
    for note in notes:
        mainlog.info(note)
    sup.cleanup_auto_logs()
    from corral.runtime.leftovers import end_leftovers

    end_leftovers(sd.pidfile, sup.server_url, mainlog)  # a killed predecessor's programs
    if not sd.nodaemon:
        mainlog.info("daemonizing the corrald process")

    pidfile_written = False

    def ready() -> None:
        nonlocal pidfile_written
        try:
            with open(sd.pidfile, "w") as f:
                f.write(f"{os.getpid()}\n")
            pidfile_written = True
        except OSError:
            mainlog.critical(f"could not write pidfile {sd.pidfile}")
        mainlog.info(f"corrald started with pid {os.getpid()}")
        daemonizer.ready()

    first_run: list[list[Bound]] = [bound]

    async def serve(s: Supervisor) -> HttpServers:
        from corral.server.http import start_servers

        # the sockets bound at start-up serve the first run; a reload binds afresh
        early = first_run.pop() if first_run else None
        return await start_servers(s, s.config, mainlog, bound=early)

    try:
        code = asyncio.run(sup.run(serve=serve, ready=ready))
    except Exception as e:
        message = getattr(e, "message", None) or str(e)
        mainlog.critical(f"corrald could not start: {message}")
        daemonizer.failed(f"Error: {message}\n")
        if sd.nodaemon:
            sys.stderr.write(f"Error: {message}\n")
        return 2
    finally:
        if pidfile_written:
            with contextlib.suppress(OSError):
                os.unlink(sd.pidfile)
        mainlog.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
