"""Parsed INI sections -> one frozen `Config`, with Supervisor's checks and messages.

Errors are `ConfigError(message, file, line, section)`: the line is the offending option's,
or the section header's when the option is missing. `section` is set where Supervisor adds
its " in section '<name>' (file: ...)" suffix (most options of program-type sections).
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Mapping
from typing import Any

from corral.config import convert
from corral.config.ctlconf import ctl_from_section
from corral.config.deps import check_dependencies
from corral.config.envfile import EnvFile
from corral.config.ini import IniDoc, Section, Value, env_names, expand, read_with_includes
from corral.config.model import (
    AUTO,
    Config,
    ConfigError,
    EventListenerConfig,
    FcgiSocketConfig,
    GroupConfig,
    GroupKind,
    InetServerConfig,
    LogChannelConfig,
    ProcessConfig,
    RpcInterfaceConfig,
    SupervisordConfig,
    UnixServerConfig,
    UserConfig,
    Warning_,
)
from corral.config.options import Option, SameAs, options_for
from corral.config.outputkeys import DEFAULT_OUTPUT_KEYS, PROGRAM_KEYS, OutputKeys
from corral.config.supervision import DEFAULT_SUPERVISION, Supervision

_PROGRAM_KINDS = ("program", "fcgi-program", "eventlistener")
# Options whose errors Supervisor reports without the " in section ..." suffix.
_NO_SUFFIX = frozenset(
    (
        "priority",
        "events",
        "buffer_size",
        "result_handler",
        "socket",
        "socket_backlog",
        "socket_owner",
        "socket_mode",
    )
)
_KNOWN_SECTIONS = ("supervisord", "supervisorctl", "include")
_KNOWN_PREFIXES = (
    "unix_http_server",
    "inet_http_server",
    "program:",
    "eventlistener:",
    "fcgi-program:",
    "group:",
    "rpcinterface:",
    "ctlplugin:",
    "user:",
)
RPC_FACTORY_KEY = "supervisor.rpcinterface_factory"
# The one [rpcinterface:x] corral honours: Supervisor's own, as the `supervisor` namespace.
MAIN_RPC_FACTORY = "supervisor.rpcinterface:make_main_rpcinterface"
_NODE = platform.node()
# Keys that event-listener plugins read from program sections through the API
# (supervisord-dependent-startup): not ours, but not mistakes either, so no warning.
_PLUGIN_KEYS = frozenset(
    {"dependent_startup", "dependent_startup_wait_for", "dependent_startup_inherit_priority"}
)
# Every process of a section shares its Supervision; sections without corral's keys share
# the default one.
_SUPERVISION_FIELDS = tuple(Supervision.__dataclass_fields__)
_SUPERVISION_SET = frozenset(_SUPERVISION_FIELDS)
_OUTPUT_SET = frozenset(PROGRAM_KEYS)
# --container changes these defaults only; a value written in the config still wins
CONTAINER_DEFAULTS = {
    "supervisord": {"nodaemon": "true", "logfile": "NONE", "console": "true"},
    "program": {"stdout_logfile": "NONE", "stderr_logfile": "NONE"},
}


class _Reader:
    """Reads one section's options through the declaration table: expand, then convert."""

    def __init__(
        self,
        doc: IniDoc,
        section: Section,
        kind: str,
        env: Mapping[str, object],
        *,
        program: str | None = None,
        group: str | None = None,
        suffix: bool = False,
        defaults: Mapping[str, str] | None = None,
    ) -> None:
        self.doc = doc
        self.defaults = defaults or {}
        self.section = section
        self.kind = kind
        self.table = options_for(kind)
        self.env = env
        self.program = program
        self.group = group
        self.suffix = suffix

    def value(self, name: str) -> Value | None:
        return self.doc.get(self.section, name)

    def error(
        self, message: str, name: str | None = None, *, suffix: bool | None = None
    ) -> ConfigError:
        value = self.value(name) if name else None
        file, line = (value.file, value.line) if value else (self.section.file, self.section.line)
        if suffix is None:
            suffix = self.suffix and name not in _NO_SUFFIX
        return ConfigError(
            message, file=file, line=line, section=self.section.name if suffix else None
        )

    def _names(
        self, scope: str, value: Value | None, extra: Mapping[str, object] | None
    ) -> dict[str, object]:
        names = dict(self.env)
        if scope == "env":
            return names
        names["here"] = value.here if value else os.path.dirname(os.path.abspath(self.section.file))
        if scope in ("node", "program", "process"):
            names["host_node_name"] = _NODE
        if scope in ("program", "process", "socket"):
            names["program_name"] = self.program
        if scope in ("program", "process"):
            names["group_name"] = self.group
        if scope == "process" and extra:
            names.update(extra)
        return names

    def text(self, name: str, extra: Mapping[str, object] | None = None) -> str | None:
        """The expanded text of an option (the declared default if unset), or None."""
        option: Option = self.table[name]
        value = self.value(name)
        default = self.defaults.get(name, option.default)
        if value is not None:
            raw = value.text
        elif default is None or isinstance(default, SameAs):
            return None
        elif callable(default):
            raw = default()
        else:
            raw = default
        if "%" not in raw:
            return raw
        where = f"{self.section.name}.{name}"
        try:
            return expand(raw, self._names(option.scope, value, extra), where)
        except ValueError as exc:
            raise self.error(str(exc), name)

    def get(self, name: str, extra: Mapping[str, object] | None = None) -> Any:
        option = self.table[name]
        if isinstance(option.default, SameAs) and self.value(name) is None:
            return self.get(option.default.option, extra)
        raw = self.text(name, extra)
        if raw is None:
            return None
        try:
            return option.convert(raw)
        except ValueError as exc:
            raise self.error(str(exc), name)

    def unknown(
        self, warnings: list[Warning_], *, keep: bool = True
    ) -> tuple[tuple[str, str], ...]:
        """Warn about keys the table does not declare; return them (name, raw text)."""
        extra = []
        for key, value in self.section.options.items():
            if key in _PLUGIN_KEYS:
                extra.append((key, value.text))
            elif key not in self.table:
                warnings.append(
                    Warning_(
                        "warn",
                        f"unknown option {key!r} in section {self.section.name!r} "
                        f"(file: {value.file!r}, line: {value.line}), ignored",
                    )
                )
                extra.append((key, value.text))
        return tuple(extra) if keep else ()


def _supervisord(
    doc: IniDoc,
    path: str,
    env: Mapping[str, object],
    overrides: Mapping[str, str],
    warnings: list[Warning_],
    container: bool = False,
) -> SupervisordConfig:
    section = doc.sections.get("supervisord")
    if section is None:
        raise ConfigError(".ini file does not include supervisord section", file=path)
    defaults = CONTAINER_DEFAULTS["supervisord"] if container else None
    r = _Reader(doc, section, "supervisord", env, defaults=defaults)
    r.unknown(warnings)
    values: dict[str, Any] = {}
    for name, option in r.table.items():
        # the file's value must be valid even when the command line overrides it
        values[name] = r.get(name)
        if name in overrides:
            try:
                values[name] = option.convert(overrides[name])
            except ValueError as exc:
                raise ConfigError(str(exc))
    unknown = set(overrides) - set(r.table)
    if unknown:
        raise ConfigError(f"unknown [supervisord] option(s): {', '.join(sorted(unknown))}")
    user = values["user"]
    uid = None
    if user is not None:
        try:
            uid = convert.user_uid(user)
        except ValueError as exc:
            if "user" in overrides:
                raise ConfigError(str(exc))
            raise r.error(str(exc), "user")
    values["environment_file"] = _absolute(r, values["environment_file"])
    return SupervisordConfig(uid=uid, container=container, **values)


def _channel(
    r: _Reader,
    ch: str,
    logfile: str | None,
    warnings: list[Warning_],
) -> LogChannelConfig:
    syslog = r.get(f"{ch}_syslog")
    maxbytes = r.get(f"{ch}_logfile_maxbytes")
    label = r.section.name
    if logfile == "syslog":
        warnings.append(
            Warning_(
                "warn",
                f"For [{label}], {ch}_logfile=syslog but this is deprecated and will be "
                f"removed.  Use {ch}_syslog=true to enable syslog instead.",
            )
        )
        logfile, syslog = None, True
    if logfile == AUTO and maxbytes == 0:
        warnings.append(
            Warning_(
                "warn",
                f"For [{label}], AUTO logging used for {ch}_logfile without rollover, set "
                "maxbytes > 0 to avoid filling up filesystem unintentionally",
            )
        )
    return LogChannelConfig(
        logfile=logfile,
        maxbytes=maxbytes,
        backups=r.get(f"{ch}_logfile_backups"),
        capture_maxbytes=r.get(f"{ch}_capture_maxbytes"),
        events_enabled=r.get(f"{ch}_events_enabled"),
        syslog=syslog,
    )


def _processes(
    doc: IniDoc,
    section: Section,
    kind: str,
    program: str,
    group: str,
    env: Mapping[str, object],
    warnings: list[Warning_],
    defaults: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
) -> list[ProcessConfig]:
    r = _Reader(
        doc, section, kind, env, program=program, group=group, suffix=True, defaults=defaults
    )
    extra = r.unknown(warnings)
    if r.value("command") is None:
        raise r.error(f"program section {section.name} does not specify a command")
    numprocs = r.get("numprocs")
    if counts and section.name in counts:
        numprocs = counts[section.name]  # corralctl scale: the count running, not the file's
    start = r.get("numprocs_start")
    name_value = r.value("process_name")
    if numprocs > 1 and (name_value is None or "%(process_num)" not in name_value.text):
        raise r.error(
            "%(process_num) must be present within process_name when numprocs > 1",
            "process_name" if name_value else "numprocs",
        )
    stopasgroup = r.get("stopasgroup")
    killasgroup = r.get("killasgroup")
    if stopasgroup and not killasgroup:
        raise r.error("Cannot set stopasgroup=true and killasgroup=false", "killasgroup")
    redirect = r.get("redirect_stderr")
    if redirect and kind == "eventlistener":
        raise r.error(
            f"[{section.name}] section sets redirect_stderr=true but this is not "
            "allowed because it will interfere with the eventlistener protocol",
            "redirect_stderr",
            suffix=False,
        )
    user = r.get("user")
    uid = None
    if user is not None:
        try:
            uid = convert.user_uid(user)
        except ValueError as exc:
            raise r.error(str(exc), "user")
    common = dict(
        program=program,
        numprocs=numprocs,
        priority=r.get("priority"),
        autostart=r.get("autostart"),
        startsecs=r.get("startsecs"),
        startretries=r.get("startretries"),
        autorestart=r.get("autorestart"),
        exitcodes=r.get("exitcodes"),
        stopsignal=r.get("stopsignal"),
        stopwaitsecs=r.get("stopwaitsecs"),
        stopasgroup=stopasgroup,
        killasgroup=killasgroup,
        user=user,
        uid=uid,
        redirect_stderr=redirect,
        umask=r.get("umask"),
        serverurl=r.get("serverurl"),
        section=section.name,
        extra=extra,
        supervision=_supervision(r),
    )
    output = _output_keys(r)
    result = []
    for num in range(start, start + numprocs):
        per: dict[str, object] = {"process_num": num, "numprocs": numprocs}
        environment = r.get("environment", per)
        with_env = dict(per)
        with_env.update(env_names(dict(environment)))
        try:
            name = convert.name(r.text("process_name", per) or "")
        except ValueError as exc:
            raise r.error(str(exc), "process_name")
        stderr_logfile = r.get("stderr_logfile", with_env)
        if redirect and r.value("stderr_logfile") and stderr_logfile not in (AUTO, None):
            warnings.append(
                Warning_(
                    "warn",
                    f"For [{section.name}], redirect_stderr=true but stderr_logfile has also "
                    "been set to a filename, the filename has been ignored",
                )
            )
        if redirect:
            stderr_logfile = None
        result.append(
            ProcessConfig(
                name=name,
                command=r.get("command", with_env),
                process_num=num,
                stdout=_channel(r, "stdout", r.get("stdout_logfile", with_env), warnings),
                stderr=_channel(r, "stderr", stderr_logfile, warnings),
                environment=environment,
                directory=r.get("directory", with_env),
                output=output
                if output is DEFAULT_OUTPUT_KEYS
                else _with_env_files(r, output, with_env),
                **common,
            )
        )
    return result


def _output_keys(r: _Reader) -> OutputKeys:
    """The section's OutputKeys, environment_file left for each process (its paths may
    name %(process_num)s)."""
    if _OUTPUT_SET.isdisjoint(r.section.options) and _OUTPUT_SET.isdisjoint(r.doc.defaults):
        return DEFAULT_OUTPUT_KEYS  # the common case, and 5000 sections need it fast
    keys = OutputKeys(
        console=r.get("console"),
        console_stderr=r.get("console_stderr"),
        log_timestamps=r.get("log_timestamps"),
        essential=r.get("essential"),
    )
    unset = r.value("environment_file") is None and "environment_file" not in r.doc.defaults
    return DEFAULT_OUTPUT_KEYS if keys == DEFAULT_OUTPUT_KEYS and unset else keys


def _with_env_files(r: _Reader, keys: OutputKeys, names: Mapping[str, object]) -> OutputKeys:
    files = _absolute(r, r.get("environment_file", names))
    return dataclasses.replace(keys, environment_files=files) if files else keys


def _absolute(r: _Reader, files: tuple[EnvFile, ...]) -> tuple[EnvFile, ...]:
    """Relative env file paths are relative to the file that names them (not to wherever
    the daemon or the program runs)."""
    value = r.value("environment_file")
    here = os.path.dirname(os.path.abspath(value.file if value else r.section.file))
    return tuple(dataclasses.replace(f, path=os.path.join(here, f.path)) for f in files)


def _supervision(r: _Reader) -> Supervision:
    if _SUPERVISION_SET.isdisjoint(r.section.options) and _SUPERVISION_SET.isdisjoint(
        r.doc.defaults
    ):
        return DEFAULT_SUPERVISION  # the common case, and 500 sections need it fast
    values = {name: r.get(name) for name in _SUPERVISION_FIELDS}
    sup = Supervision(**values)
    if sup.watchdog_sec and (sup.ready_check is None or sup.ready_check.kind != "notify"):
        raise r.error("watchdog_sec needs ready_check = notify", "watchdog_sec")
    return DEFAULT_SUPERVISION if sup == DEFAULT_SUPERVISION else sup


def _fcgi_socket(
    doc: IniDoc, section: Section, program: str, uid: int | None, env: Mapping[str, object]
) -> FcgiSocketConfig:
    r = _Reader(doc, section, "fcgi-program", env, program=program)
    where = f" in [{section.name}] socket"
    url = r.get("socket")
    if url is None:
        raise r.error(f'[{section.name}] section requires a "socket" line')
    backlog = r.get("socket_backlog")
    if url.startswith("unix://"):
        path = url[len("unix://") :]
        if not os.path.isabs(path):
            raise r.error(
                repr(("Unix socket path %s is not an absolute path", path)) + where, "socket"
            )
        owner = r.get("socket_owner")
        if owner is None and uid is not None:
            owner = (uid, convert.user_gid(uid))
        return FcgiSocketConfig(url, "unix", path, None, None, backlog, owner, r.get("socket_mode"))
    host, sep, port = url[len("tcp://") :].rpartition(":")
    if not url.startswith("tcp://") or not sep or not port.isdigit():
        raise r.error(repr(("Bad socket format %s", url)) + where, "socket")
    if r.value("socket_owner") is not None or r.value("socket_mode") is not None:
        raise r.error(
            "socket_owner and socket_mode params should only be used with a Unix "
            "domain socket" + where,
            "socket",
        )
    return FcgiSocketConfig(url, "tcp", None, host, int(port), backlog, None, None)


def _listener(doc: IniDoc, section: Section, env: Mapping[str, object]) -> EventListenerConfig:
    r = _Reader(
        doc,
        section,
        "eventlistener",
        env,
        program=section.name.split(":", 1)[1],
        group=section.name.split(":", 1)[1],
    )
    events = r.get("events")
    if events is None:
        raise r.error(f'[{section.name}] section requires an "events" line')
    names = tuple(event.upper() for event in events)
    for event in names:
        if event not in convert.EVENT_TYPES:
            raise r.error(f"Unknown event type {event} in [{section.name}] events", "events")
    buffer_size = r.get("buffer_size")
    if buffer_size < 1:
        raise r.error(
            f"[{section.name}] section sets invalid buffer_size ({buffer_size})", "buffer_size"
        )
    handler = r.get("result_handler")
    if handler not in convert.DEFAULT_HANDLER_NAMES:
        try:
            convert.import_callable(handler)  # 4.3 refuses the config otherwise
        except ValueError:
            raise r.error(f"{handler} cannot be resolved within [{section.name}]", "result_handler")
    return EventListenerConfig(names, buffer_size, handler)


def _section_name(section: Section) -> str:
    try:
        return convert.name(section.name.split(":", 1)[1])
    except ValueError as exc:
        raise ConfigError(str(exc), file=section.file, line=section.line)


def _sorted_group(
    name: str, priority: int, kind: GroupKind, processes: list[ProcessConfig], **more: Any
) -> GroupConfig:
    processes.sort(key=lambda p: (p.priority, p.name))
    return GroupConfig(name, priority, kind, tuple(processes), **more)


def _groups(
    doc: IniDoc,
    env: Mapping[str, object],
    warnings: list[Warning_],
    defaults: Mapping[str, str] | None = None,
    counts: Mapping[str, int] | None = None,
) -> list[GroupConfig]:
    sections = doc.sections
    groups: list[GroupConfig] = []
    members: set[str] = set()
    for section in list(sections.values()):
        if not section.name.startswith("group:"):
            continue
        gname = _section_name(section)
        r = _Reader(doc, section, "group", env)
        r.unknown(warnings)
        processes: list[ProcessConfig] = []
        for program in r.get("programs"):
            plain, fcgi = (
                sections.get(f"program:{program}"),
                sections.get(f"fcgi-program:{program}"),
            )
            if plain and fcgi:
                raise r.error(
                    f"[{section.name}] name {program} is ambiguous (exists as "
                    "program and fcgi-program)",
                    "programs",
                )
            member = plain or fcgi
            if member is None:
                raise r.error(
                    f"[{section.name}] names unknown program or fcgi-program {program}", "programs"
                )
            if member.name in members:
                # 4.3 quietly runs such a program twice; say so, it is rarely meant
                warnings.append(
                    Warning_(
                        "warn",
                        f"[{member.name}] is a member of more than one group; it runs once "
                        f"in each (now also in [{section.name}])",
                    )
                )
            members.add(member.name)
            kind = "program" if plain else "fcgi-program"
            processes += _processes(
                doc, member, kind, _section_name(member), gname, env, warnings, defaults, counts
            )
        groups.append(_sorted_group(gname, r.get("priority"), GroupKind.HETEROGENEOUS, processes))
    for section in list(sections.values()):
        kind = section.name.split(":", 1)[0]
        if kind not in _PROGRAM_KINDS or ":" not in section.name or section.name in members:
            continue
        pname = _section_name(section)
        processes = _processes(doc, section, kind, pname, pname, env, warnings, defaults, counts)
        priority = _Reader(doc, section, kind, env).get("priority")
        if kind == "program":
            groups.append(_sorted_group(pname, priority, GroupKind.PROGRAM, processes))
        elif kind == "eventlistener":
            groups.append(
                _sorted_group(
                    pname,
                    priority,
                    GroupKind.EVENTLISTENER,
                    processes,
                    listener=_listener(doc, section, env),
                )
            )
        else:
            uid = processes[0].uid if processes else None
            groups.append(
                _sorted_group(
                    pname,
                    priority,
                    GroupKind.FCGI,
                    processes,
                    fcgi_socket=_fcgi_socket(doc, section, pname, uid, env),
                )
            )
    groups.sort(key=lambda g: (g.priority, g.name))
    return groups


def _auth(r: _Reader) -> tuple[str | None, str | None]:
    username, password = r.get("username"), r.get("password")
    if (username is None) != (password is None):
        raise r.error(
            f"Section [{r.section.name}] contains incomplete authentication: If a "
            "username or a password is specified, both the username and password "
            "must be specified"
        )
    return username, password


def _servers(
    doc: IniDoc, env: Mapping[str, object], warnings: list[Warning_]
) -> tuple[list[UnixServerConfig], list[InetServerConfig]]:
    unix: list[UnixServerConfig] = []
    inet: list[InetServerConfig] = []
    for section in doc.sections.values():
        name = section.name
        if name.startswith("unix_http_server"):
            r = _Reader(doc, section, "unix_http_server", env)
            r.unknown(warnings)
            username, password = _auth(r)
            file = r.text("file")
            if file is None:
                raise r.error(f"section [{name}] has no file value")
            path = os.path.abspath(os.path.expanduser(file))
            unix.append(
                UnixServerConfig(name, path, r.get("chmod"), r.get("chown"), username, password)
            )
        elif name.startswith("inet_http_server"):
            r = _Reader(doc, section, "inet_http_server", env)
            r.unknown(warnings)
            username, password = _auth(r)
            if r.value("port") is None:
                raise r.error(f"section [{name}] has no port value")
            host, port = r.get("port")
            certfile, keyfile, cafile = r.get("certfile"), r.get("keyfile"), r.get("cafile")
            if (keyfile or cafile) and not certfile:
                raise r.error(f"[{name}]: keyfile and cafile need a certfile (HTTPS)", "certfile")
            inet.append(
                InetServerConfig(
                    name,
                    host,
                    port,
                    username,
                    password,
                    r.get("metrics_public"),
                    certfile,
                    keyfile,
                    cafile,
                    r.get("insecure_no_auth"),
                )
            )
    return unix, inet


def _users(doc: IniDoc, env: Mapping[str, object], warnings: list[Warning_]) -> list[UserConfig]:
    users = []
    for section in doc.sections.values():
        if not section.name.startswith("user:"):
            continue
        r = _Reader(doc, section, "user", env)
        r.unknown(warnings)
        name = _section_name(section)
        if not name or ":" in name:
            raise r.error(f"[{section.name}]: a user name with no ':'")
        password = r.get("password")
        if password is None:
            raise r.error(f"[{section.name}] has no password", "password")
        users.append(UserConfig(name, password, r.get("rights"), r.get("programs")))
    return users


def _where(section: Section) -> str:
    return f"(file: {section.file!r}, line: {section.line})"


def _rpcinterfaces(
    doc: IniDoc, env: Mapping[str, object], warnings: list[Warning_]
) -> list[RpcInterfaceConfig]:
    result = []
    for section in doc.sections.values():
        if not section.name.startswith("rpcinterface:"):
            continue
        r = _Reader(doc, section, "rpcinterface", env)
        factory = r.get(RPC_FACTORY_KEY)
        if factory is None:
            raise r.error(f"section [{section.name}] does not specify a {RPC_FACTORY_KEY}")
        kwargs = []
        for key, value in section.options.items():
            if key != RPC_FACTORY_KEY:
                try:
                    kwargs.append((key, expand(value.text, env, f"{section.name}.{key}")))
                except ValueError as exc:
                    raise ConfigError(str(exc), file=value.file, line=value.line)
        name = section.name.split(":", 1)[1]
        # corral serves its own supervisor and system namespaces and nothing else: say so,
        # rather than let a plugin's namespace be missing without a word
        if factory != MAIN_RPC_FACTORY:
            reason = "corral does not load RPC interface plugins"
        elif name != "supervisor":
            reason = "corral serves Supervisor's main interface as the supervisor namespace only"
        else:
            reason = ""
        if reason:
            warnings.append(
                Warning_("warn", f"[{section.name}] is ignored: {reason} {_where(section)}")
            )
        result.append(RpcInterfaceConfig(name, factory, tuple(kwargs)))
    return result


def _ctlplugins(doc: IniDoc, warnings: list[Warning_]) -> None:
    for section in doc.sections.values():
        if section.name.startswith("ctlplugin:"):
            warnings.append(
                Warning_(
                    "warn",
                    f"[{section.name}] is ignored: corralctl does not load supervisorctl "
                    f"plugins {_where(section)}",
                )
            )


def _unknown_sections(doc: IniDoc, warnings: list[Warning_]) -> None:
    for section in doc.sections.values():
        name = section.name
        if name in _KNOWN_SECTIONS or name.startswith(_KNOWN_PREFIXES):
            continue
        warnings.append(
            Warning_(
                "warn",
                f"unknown section {name!r} {_where(section)}, ignored",
            )
        )


def load(
    path: str,
    *,
    overrides: dict[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    container: bool = False,
    numprocs: Mapping[str, int] | None = None,
) -> Config:
    """Read the daemon config at `path` (and its includes) into one frozen `Config`;
    `container` (corrald --container) swaps in CONTAINER_DEFAULTS; `numprocs` gives some
    sections (by section name, `program:web`) another process count than the file's."""
    if environ is None:
        environ = os.environ
    doc = read_with_includes(path, environ)
    warnings: list[Warning_] = list(doc.warnings)
    env = env_names(environ)
    supervisord = _supervisord(doc, path, env, overrides or {}, warnings, container)
    env.update(env_names(dict(supervisord.environment)))
    _unknown_sections(doc, warnings)
    groups = _groups(
        doc, env, warnings, CONTAINER_DEFAULTS["program"] if container else None, numprocs
    )
    check_dependencies(doc, groups)
    unix, inet = _servers(doc, env, warnings)
    ctl_section = doc.sections.get("supervisorctl")
    ctl = None
    if ctl_section is not None:
        try:
            ctl = ctl_from_section(doc, ctl_section, environ)
        except ConfigError as exc:
            # corralctl's own section: its mistakes are corralctl's to report, not ours
            warnings.append(Warning_("warn", f"[supervisorctl] section ignored: {exc}"))
    rpcinterfaces = _rpcinterfaces(doc, env, warnings)
    users = _users(doc, env, warnings)
    _ctlplugins(doc, warnings)
    return Config(
        path=os.path.abspath(path),
        supervisord=supervisord,
        groups=tuple(groups),
        unix_servers=tuple(unix),
        inet_servers=tuple(inet),
        ctl=ctl,
        rpcinterfaces=tuple(rpcinterfaces),
        warnings=tuple(dict.fromkeys(warnings)),
        files=tuple(doc.files),
        users=tuple(users),
    )
