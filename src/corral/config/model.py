"""The typed, frozen result of reading a config: what the rest of corral consumes.

Nothing here parses text or holds a default; `options.py` declares the options and their
defaults, `build.py` fills these classes. Paths are absolute once built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# Defined in light modules corralctl can import without this one; re-exported here.
from corral.config.ctlconf import CtlConfig as CtlConfig
from corral.config.envfile import EnvFile
from corral.config.errors import ConfigError as ConfigError
from corral.config.outputkeys import DEFAULT_OUTPUT_KEYS, ConsoleFormat, OutputKeys
from corral.config.supervision import DEFAULT_SUPERVISION, Supervision

# Sentinel values a log file option may hold (besides a path or None for NONE/OFF).
AUTO = "AUTO"


class AutoRestart(Enum):
    NEVER = "false"
    ALWAYS = "true"
    UNEXPECTED = "unexpected"


class GroupKind(Enum):
    PROGRAM = "program"  # homogeneous group made from one [program:x]
    HETEROGENEOUS = "group"  # [group:x]
    FCGI = "fcgi-program"
    EVENTLISTENER = "eventlistener"


@dataclass(frozen=True)
class Warning_:
    """A non-fatal remark from parsing, logged at `level` once the main log is open."""

    level: str  # 'warn', 'info', 'critical'
    message: str


@dataclass(frozen=True)
class LogChannelConfig:
    """One output channel (stdout or stderr) of a process."""

    logfile: str | None  # absolute path, AUTO, or None (NONE/OFF)
    maxbytes: int
    backups: int
    capture_maxbytes: int
    events_enabled: bool
    syslog: bool


@dataclass(frozen=True)
class ProcessConfig:
    name: str  # expanded process_name
    program: str  # the section's program name
    command: str
    process_num: int
    numprocs: int
    priority: int
    autostart: bool
    startsecs: int
    startretries: int
    autorestart: AutoRestart
    exitcodes: tuple[int, ...]
    stopsignal: int
    stopwaitsecs: int
    stopasgroup: bool
    killasgroup: bool
    user: str | None  # as written
    uid: int | None  # resolved from user
    redirect_stderr: bool
    stdout: LogChannelConfig
    stderr: LogChannelConfig
    environment: tuple[tuple[str, str], ...]  # the program's own environment= pairs
    directory: str | None
    umask: int | None
    serverurl: str  # AUTO or a URL
    section: str = ""  # e.g. 'program:app', for messages
    extra: tuple[tuple[str, str], ...] = ()  # unknown keys, kept verbatim
    # corral's readiness, dependency, health and restart keys; one shared default object
    supervision: Supervision = DEFAULT_SUPERVISION
    # console, log_timestamps, essential, environment_file; one shared default object
    output: OutputKeys = DEFAULT_OUTPUT_KEYS

    def expects(self, code: int) -> bool:
        """The one rule for "was this exit expected": a listed exit code. A death by signal
        (reported as -1) never is, even with exitcodes listing 255."""
        return code != -1 and code in self.exitcodes


@dataclass(frozen=True)
class FcgiSocketConfig:
    url: str  # 'unix:///abs/path' or 'tcp://host:port' as written (expanded)
    family: str  # 'unix' | 'tcp'
    path: str | None  # unix
    host: str | None  # tcp
    port: int | None  # tcp
    backlog: int | None  # None -> SOMAXCONN
    owner: tuple[int, int] | None  # (uid, gid) unix only
    mode: int | None  # unix only, default 0o700 applied by build


@dataclass(frozen=True)
class EventListenerConfig:
    events: tuple[str, ...]  # upper-case event type names as given
    buffer_size: int
    result_handler: str  # 'pkg.module:callable'


@dataclass(frozen=True)
class GroupConfig:
    name: str
    priority: int
    kind: GroupKind
    processes: tuple[ProcessConfig, ...]
    fcgi_socket: FcgiSocketConfig | None = None
    listener: EventListenerConfig | None = None


@dataclass(frozen=True)
class UnixServerConfig:
    section: str
    file: str
    chmod: int
    chown: tuple[int, int] | None  # (uid, gid), -1 for unchanged part
    username: str | None
    password: str | None


@dataclass(frozen=True)
class UserConfig:
    """A [user:NAME] section: credentials and rights on every server."""

    name: str
    password: str  # plain, {SHA}hex or {SCRYPT}...
    rights: str  # read | control | admin
    programs: tuple[str, ...] = ()  # control limited to these (empty: all)


@dataclass(frozen=True)
class InetServerConfig:
    section: str
    host: str  # '' means all interfaces
    port: int
    username: str | None
    password: str | None
    metrics_public: bool = False  # /metrics without credentials
    certfile: str | None = None  # HTTPS when set
    keyfile: str | None = None
    cafile: str | None = None  # client certificates required (mTLS)
    insecure_no_auth: bool = False  # no credentials, and yet other hosts served


@dataclass(frozen=True)
class SupervisordConfig:
    logfile: str | None  # absolute path, 'syslog', or None (NONE)
    logfile_maxbytes: int
    logfile_backups: int
    loglevel: str  # critical error warn info debug trace blather
    pidfile: str
    umask: int
    nodaemon: bool
    silent: bool
    minfds: int
    minprocs: int
    nocleanup: bool
    childlogdir: str
    user: str | None
    uid: int | None
    directory: str | None
    strip_ansi: bool
    environment: tuple[tuple[str, str], ...]
    identifier: str
    environment_file: tuple[EnvFile, ...] = ()
    console: bool = False
    console_format: ConsoleFormat = "prefixed"
    console_timestamps: bool = False
    console_drop: bool = False
    audit_logfile: str | None = None  # the audit lines, also here
    container: bool = False  # started with --container (only changes defaults and exit codes)


@dataclass(frozen=True)
class RpcInterfaceConfig:
    name: str
    factory: str
    kwargs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Config:
    path: str  # the main config file, absolute
    supervisord: SupervisordConfig
    groups: tuple[GroupConfig, ...]  # sorted by (priority, name)
    unix_servers: tuple[UnixServerConfig, ...] = ()
    inet_servers: tuple[InetServerConfig, ...] = ()
    ctl: CtlConfig | None = None
    rpcinterfaces: tuple[RpcInterfaceConfig, ...] = ()
    warnings: tuple[Warning_, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)  # every file read, in order
    users: tuple[UserConfig, ...] = ()  # [user:NAME] sections

    def group(self, name: str) -> GroupConfig | None:
        for g in self.groups:
            if g.name == name:
                return g
        return None
