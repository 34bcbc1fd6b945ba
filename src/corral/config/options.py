"""The one declaration of every option: section kind, name, converter, default, scope, doc.

Nothing else in corral holds a default. A default is written as config text (run through
the same expansion and converter as a user's value), `None` (unset), a callable returning
config text (computed at load time), or `SameAs(option)` (another option's value).

`scope` names which `%(name)s` expansions the option sees (see `build.SCOPES`):
  env      ENV_* only
  here     here, ENV_*
  node     here, host_node_name, ENV_*
  program  here, program_name, group_name, host_node_name, ENV_*
  process  program + process_num, numprocs (and the program's own environment= as ENV_*)
  socket   here, program_name, ENV_*

`live` says whether a running process can take a changed value without a restart (what
`update` may apply in place). It means something only for the sections whose processes
`update` touches ([program:x], [fcgi-program:x], [eventlistener:x], [group:x]); every other
section is read again only by a full reload. A key whose change adds or removes processes
(numprocs, [group:x] programs) is live: the processes that stay keep running.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from corral.config import convert as c
from corral.config import outputkeys as ok
from corral.config import supervision as sv
from corral.config.ctlconf import CTL_OPTIONS
from corral.config.loglevels import LEVELS_TEXT


@dataclass(frozen=True)
class SameAs:
    option: str


@dataclass(frozen=True)
class Option:
    section: str  # section kind: 'supervisord', 'program', 'eventlistener', ...
    name: str
    convert: Callable[[str], Any]
    default: str | Callable[[], str] | SameAs | None
    doc: str
    scope: str = "program"
    required: bool = False
    live: bool = False


def _tempdir() -> str:
    return tempfile.gettempdir()


def _sd(
    name: str, convert: Callable[[str], Any], default: Any, doc: str, scope: str = "here"
) -> Option:
    return Option("supervisord", name, convert, default, doc, scope)


_SUPERVISORD = (
    _sd(
        "logfile",
        c.main_logfile,
        "supervisord.log",
        "Main activity log; relative to the start directory; NONE, or syslog.",
    ),
    _sd("logfile_maxbytes", c.byte_size, "50MB", "Rotate the main log at this size; 0 never."),
    _sd("logfile_backups", c.integer, "10", "Rotated main logs to keep; 0 truncates instead."),
    _sd("loglevel", c.log_level, "info", f"{LEVELS_TEXT}."),
    _sd("pidfile", c.existing_dirpath, "supervisord.pid", "Where the daemon writes its pid."),
    _sd("umask", c.octal, "022", "umask of the daemon (and so of children without their own)."),
    _sd("nodaemon", c.boolean, "false", "Stay in the foreground."),
    _sd("silent", c.boolean, "false", "In the foreground, do not echo the main log to stdout."),
    _sd("minfds", c.integer, "1024", "Required soft RLIMIT_NOFILE at start."),
    _sd("minprocs", c.integer, "200", "Required soft RLIMIT_NPROC at start."),
    _sd("nocleanup", c.boolean, "false", "Keep old AUTO child logs at start."),
    _sd("childlogdir", c.existing_directory, _tempdir, "Directory for AUTO child logs."),
    _sd("user", c.string, None, "Switch to this user (name or uid) at start."),
    _sd("directory", c.existing_directory, None, "Directory the daemon changes to at start."),
    _sd("strip_ansi", c.boolean, "false", "Strip ANSI escapes from child output in logs."),
    _sd(
        "environment",
        c.key_value_pairs,
        "",
        "KEY=value pairs added to every child; also %(ENV_KEY)s names.",
        "node",
    ),
    _sd("identifier", c.string, "supervisor", "Name reported by getIdentification."),
    _sd(
        "environment_file",
        ok.env_files,
        "",
        "KEY=VALUE files read at each spawn, comma-separated; a leading - makes one optional.",
        "node",
    ),
    _sd(
        "console",
        c.boolean,
        "false",
        "Copy every program's output, line by line, to corrald's stdout (--container: true).",
    ),
    _sd("console_format", ok.console_format, "prefixed", "Console lines: prefixed, json or raw."),
    _sd("console_timestamps", c.boolean, "false", "An RFC 3339 time on prefixed console lines."),
    _sd(
        "console_drop",
        c.boolean,
        "false",
        "When the console cannot keep up, drop lines (counted) instead of holding programs.",
    ),
    _sd(
        "audit_logfile",
        c.existing_dirpath,
        None,
        "Also write the audit lines (every change, every refusal) to this file.",
    ),
)

_UNIX = (
    Option("unix_http_server", "file", c.string, None, "Socket path.", "here", required=True),
    Option("unix_http_server", "chmod", c.chmod, "0700", "Socket file mode.", "env"),
    Option("unix_http_server", "chown", c.sockchown, None, "Socket owner user[:group].", "env"),
    Option("unix_http_server", "username", c.string, None, "Basic auth user name.", "env"),
    Option(
        "unix_http_server",
        "password",
        c.string,
        None,
        "Basic auth password, plain or {SHA}hex.",
        "env",
    ),
)

_INET = (
    Option(
        "inet_http_server",
        "port",
        c.inet_address,
        None,
        "[host:]port to listen on.",
        "env",
        required=True,
    ),
    Option("inet_http_server", "username", c.string, None, "Basic auth user name.", "env"),
    Option(
        "inet_http_server",
        "password",
        c.string,
        None,
        "Basic auth password, plain or {SHA}hex.",
        "env",
    ),
    Option(
        "inet_http_server",
        "metrics_public",
        c.boolean,
        "false",
        "true: /metrics answers without credentials (a Prometheus without the password).",
    ),
    Option(
        "inet_http_server",
        "insecure_no_auth",
        c.boolean,
        "false",
        "true: without credentials, serve clients on other hosts too (else only loopback).",
    ),
    Option(
        "inet_http_server", "certfile", c.existing_file, None, "Serve HTTPS: the certificate (PEM)."
    ),
    Option(
        "inet_http_server",
        "keyfile",
        c.existing_file,
        None,
        "The certificate's private key (when not in certfile).",
    ),
    Option(
        "inet_http_server",
        "cafile",
        c.existing_file,
        None,
        "Require client certificates signed by these CAs (mTLS).",
    ),
)

# Declared in ctlconf (all plain strings), so corralctl reads them without this module.
_CTL = tuple(
    Option("supervisorctl", name, c.string, default, doc, scope)
    for name, default, doc, scope in CTL_OPTIONS
)


def _pg(
    name: str,
    convert: Callable[[str], Any],
    default: Any,
    doc: str,
    scope: str = "program",
    required: bool = False,
    *,
    live: bool = False,
) -> Option:
    return Option("program", name, convert, default, doc, scope, required, live)


def _channel(ch: str) -> tuple[Option, ...]:
    return (
        _pg(
            f"{ch}_logfile",
            c.logfile_name,
            "AUTO",
            f"{ch} log path, AUTO, NONE or syslog.",
            "process",
        ),
        _pg(
            f"{ch}_logfile_maxbytes",
            c.byte_size,
            "50MB",
            f"Rotate the {ch} log; 0 never.",
            live=True,
        ),
        _pg(f"{ch}_logfile_backups", c.integer, "10", f"Rotated {ch} logs to keep.", live=True),
        _pg(
            f"{ch}_capture_maxbytes",
            c.byte_size,
            "0",
            f"{ch} capture mode buffer; 0 off.",
            live=True,
        ),
        _pg(
            f"{ch}_events_enabled",
            c.boolean,
            "false",
            f"Emit PROCESS_LOG_{ch.upper()}.",
            live=True,
        ),
        # live: update re-routes the running pipes
        _pg(f"{ch}_syslog", c.boolean, "false", f"Also send {ch} to syslog.", live=True),
    )


# corral's keys (config/supervision.py). Live: a running process takes the new value at its
# next use (a new health_check restarts the probe loop); the watchdog's period is in the
# child's environment, so it restarts, and so does a ready_check to or from notify or fd:N
# (config/plan.py: set up at spawn)
_SUPERVISION = (
    _pg(
        "ready_check",
        sv.ready_check,
        "",
        "RUNNING when this passes, not after startsecs: notify, fd:N, log:REGEX, "
        "tcp:HOST:PORT, http(s)://HOST:PORT/PATH or exec:COMMAND.",
        live=True,
    ),
    _pg("ready_timeout", sv.positive_seconds, "60", "Seconds to pass ready_check.", live=True),
    _pg("ready_interval", sv.positive_seconds, "1", "Seconds between ready probes.", live=True),
    _pg(
        "depends_on",
        sv.dependencies,
        "",
        "Programs or groups started first: name[:ready|started|exited], comma-separated.",
        live=True,
    ),
    _pg(
        "health_check",
        sv.health_check,
        "",
        "Probe run while RUNNING: tcp:HOST:PORT, http(s)://HOST:PORT/PATH or exec:COMMAND.",
        live=True,
    ),
    _pg("health_interval", sv.positive_seconds, "10", "Seconds between health probes.", live=True),
    _pg(
        "health_timeout", sv.positive_seconds, "5", "Seconds one health probe may take.", live=True
    ),
    _pg(
        "health_retries", sv.positive_integer, "3", "Failed probes in a row: unhealthy.", live=True
    ),
    _pg(
        "health_action",
        sv.health_action,
        "restart",
        "When unhealthy: restart, stop or none.",
        live=True,
    ),
    _pg(
        "watchdog_sec",
        sv.seconds,
        "0",
        "With ready_check=notify: unhealthy without WATCHDOG=1 this often; 0 off.",
        live=False,
    ),
    _pg(
        "backoff",
        sv.backoff,
        "linear",
        "Delay after a failed start: linear (1, 2, 3 s), exponential (1, 2, 4 s) or seconds.",
        live=True,
    ),
    _pg("backoff_max", sv.positive_seconds, "60", "Longest backoff delay, seconds.", live=True),
    _pg(
        "restart_delay",
        sv.seconds,
        "0",
        "Seconds before an autorestart of a process that exited from RUNNING.",
        live=True,
    ),
)

# corral's console, time stamp, essential and env-file keys (config/outputkeys.py).
_OUTPUT_KEYS = (
    # live: update re-routes the running pipes
    _pg("console", c.boolean, "true", "false: leave this program off the console.", live=True),
    _pg(
        "console_stderr",
        ok.console_stream,
        "stdout",
        "Console stream for this program's stderr lines: stdout or stderr.",
        live=True,
    ),
    _pg(
        "log_timestamps",
        c.boolean,
        "false",
        "An RFC 3339 time in front of each logged line.",
        live=True,
    ),
    _pg(
        "essential",
        c.boolean,
        "false",
        "When this program ends for good, stop everything and exit with its exit code.",
        live=True,
    ),
    _pg(
        "environment_file",
        ok.env_files,
        "",
        "KEY=VALUE files read at each spawn (after [supervisord]'s, before environment=).",
        "process",
    ),
)

_PROGRAM = (
    _pg("command", c.string, None, "Command line, split like a shell.", "process", True),
    _pg("process_name", c.string, "%(program_name)s", "Process name pattern.", "process"),
    _pg("numprocs", c.integer, "1", "How many processes.", live=True),
    _pg("numprocs_start", c.integer, "0", "First process_num.", live=True),
    _pg("priority", c.integer, "999", "Lower starts first and stops last.", "here", live=True),
    _pg("autostart", c.boolean, "true", "Start when the daemon starts.", live=True),
    _pg("startsecs", c.integer, "1", "Seconds up before RUNNING.", live=True),
    _pg("startretries", sv.retries, "3", "Failed starts before FATAL; or unlimited.", live=True),
    _pg("autorestart", c.autorestart, "unexpected", "true, false or unexpected.", live=True),
    _pg("exitcodes", c.exit_codes, "0", "Expected exit codes.", live=True),
    _pg("stopsignal", c.parse_signal, "TERM", "Signal sent to stop.", live=True),
    _pg("stopwaitsecs", c.integer, "10", "Seconds to wait before SIGKILL.", live=True),
    _pg("stopasgroup", c.boolean, "false", "Signal the whole process group on stop.", live=True),
    _pg(
        "killasgroup",
        c.boolean,
        SameAs("stopasgroup"),
        "SIGKILL the whole process group.",
        live=True,
    ),
    _pg("user", c.string, None, "Run as this user (name or uid)."),
    _pg("redirect_stderr", c.boolean, "false", "Send stderr to the stdout log."),
    *_channel("stdout"),
    *_channel("stderr"),
    _pg("environment", c.key_value_pairs, "", "KEY=value pairs for the child.", "process"),
    _pg("directory", c.string, None, "chdir in the child.", "process"),
    _pg("umask", c.octal, None, "umask in the child (default: inherit)."),
    _pg("serverurl", c.string, "AUTO", "SUPERVISOR_SERVER_URL for the child."),
    *_SUPERVISION,
    *_OUTPUT_KEYS,
)

# A listener pool's own keys live in the daemon, not in the listener processes: a change
# needs no new process (a smaller buffer drops its oldest events, as an overflow does).
_EVENTLISTENER = (
    Option(
        "eventlistener", "priority", c.integer, "-1", "Listeners start first.", "here", live=True
    ),
    Option(
        "eventlistener",
        "events",
        c.list_of_strings,
        None,
        "Event type names.",
        required=True,
        live=True,
    ),
    Option("eventlistener", "buffer_size", c.integer, "10", "Event queue length.", live=True),
    Option(
        "eventlistener",
        "result_handler",
        c.string,
        "supervisor.dispatchers:default_handler",
        "pkg.module:callable for results.",
        live=True,
    ),
)

_FCGI = (
    Option(
        "fcgi-program",
        "socket",
        c.string,
        None,
        "unix:///path or tcp://host:port.",
        "socket",
        required=True,
    ),
    Option("fcgi-program", "socket_backlog", c.socket_backlog, None, "listen() backlog, 1..65535."),
    Option("fcgi-program", "socket_owner", c.socket_owner, None, "user[:group] of a unix socket."),
    Option("fcgi-program", "socket_mode", c.socket_mode, "0700", "Mode of a unix socket."),
)

# The socket of an fcgi-program is bound once per group and inherited: its keys need new
# processes. A group's membership and priority change no running member.
_GROUP = (
    Option("group", "programs", c.list_of_strings, "", "Member program names.", "here", live=True),
    Option("group", "priority", c.integer, "999", "Group priority.", "here", live=True),
)


def _rights(text: str) -> str:
    value = text.strip().lower()
    if value not in ("read", "control", "admin"):
        raise ValueError(f"rights must be read, control or admin, not {text!r}")
    return value


def _password(text: str) -> str:
    if text.startswith("{SCRYPT}") and text.count("$") != 2:
        raise ValueError("a {SCRYPT} password is what `corral hash-password` prints")
    return text


# corral's users: daemon-wide, on every server; the 4.3 username/password of a server section
# stays, with every right
_USER = (
    Option(
        "user",
        "password",
        _password,
        None,
        "Plain, {SHA}hex (as 4.3) or {SCRYPT}... (`corral hash-password`).",
        "env",
        required=True,
    ),
    Option("user", "rights", _rights, "read", "read, control or admin.", "here"),
    Option(
        "user",
        "programs",
        c.list_of_strings,
        "",
        "Programs control is limited to: web, worker:*, web:web_01 (empty: all).",
        "here",
    ),
)

_INCLUDE = (
    Option("include", "files", c.string, None, "Glob patterns of extra files.", "node", True),
)

_RPC = (
    Option(
        "rpcinterface",
        "supervisor.rpcinterface_factory",
        c.string,
        None,
        "pkg.module:callable making the interface.",
        "env",
        required=True,
    ),
)

_ALL: tuple[Option, ...] = (
    *_SUPERVISORD,
    *_UNIX,
    *_INET,
    *_CTL,
    *_PROGRAM,
    *_EVENTLISTENER,
    *_FCGI,
    *_GROUP,
    *_USER,
    *_INCLUDE,
    *_RPC,
)

# Program-type sections take every [program:x] option plus their own rows (which win).
_INHERITS = {"eventlistener": "program", "fcgi-program": "program"}


def iter_options() -> Iterator[Option]:
    """Every declared row, in declaration order (for docs and sample configs)."""
    return iter(_ALL)


@cache
def live_keys(kind: str) -> frozenset[str]:
    """The keys of a section kind that a running process takes without a restart."""
    return frozenset(name for name, option in options_for(kind).items() if option.live)


@cache
def options_for(kind: str) -> dict[str, Option]:
    """The options a section kind accepts, by name."""
    table: dict[str, Option] = {}
    parent = _INHERITS.get(kind)
    if parent:
        table.update(options_for(parent))
    for option in _ALL:
        if option.section == kind:
            table[option.name] = option
    return table
