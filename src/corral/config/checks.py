"""The check forms of ready_check and health_check, parsed once when the config is read.

notify, fd:N and log:REGEX are signals from the program itself (readiness only); tcp,
http, https and exec are probes corrald runs (readiness or health).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

CheckKind = Literal["notify", "fd", "log", "tcp", "http", "https", "exec"]
_PROBES = "tcp:HOST:PORT, http(s)://HOST:PORT/PATH or exec:COMMAND"
_FORMS = f"notify, fd:N, log:REGEX, {_PROBES}"


@dataclass(frozen=True, slots=True)
class Check:
    kind: CheckKind
    text: str  # as written (stripped): messages name the check this way
    fd: int = 0
    pattern: re.Pattern[str] | None = None
    host: str = ""
    port: int = 0
    url: str = ""
    command: str = ""

    def __str__(self) -> str:
        return self.text


def _port(text: str, value: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"bad port in {value!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range (1-65535) in {value!r}")
    return port


def _tcp(value: str, rest: str) -> Check:
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port:
        raise ValueError(f"tcp check must be tcp:HOST:PORT, not {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Check("tcp", value, host=host, port=_port(port, value))


def _http(value: str, kind: Literal["http", "https"]) -> Check:
    parts = urlsplit(value)
    if not parts.hostname:
        raise ValueError(f"{kind} check needs a host: {value!r}")
    try:
        port = parts.port or (443 if kind == "https" else 80)
    except ValueError:
        raise ValueError(f"bad port in {value!r}") from None
    return Check(kind, value, host=parts.hostname, port=port, url=value)


def parse_check(value: str, *, probes_only: bool = False) -> Check:
    value = value.strip()
    kind, _, rest = value.partition(":")
    kind = kind.lower()
    if probes_only and kind in ("notify", "fd", "log"):
        raise ValueError(f"health_check must be {_PROBES}, not {value!r}")
    if value.lower() == "notify":
        return Check("notify", value)
    if kind == "fd":
        try:
            fd = int(rest)
        except ValueError:
            raise ValueError(f"fd check must be fd:N with N a number, not {value!r}") from None
        if fd < 3:
            raise ValueError(f"fd:N needs N >= 3 (0-2 are stdin/stdout/stderr): {value!r}")
        return Check("fd", value, fd=fd)
    if kind == "log":
        if not rest:
            raise ValueError("log check needs a regular expression: log:REGEX")
        try:
            pattern = re.compile(rest)
        except re.error as e:
            raise ValueError(f"bad regular expression {rest!r} in log check: {e}") from None
        return Check("log", value, pattern=pattern)
    if kind == "tcp":
        return _tcp(value, rest)
    if kind in ("http", "https"):
        return _http(value, "https" if kind == "https" else "http")
    if kind == "exec":
        if not rest.strip():
            raise ValueError("exec check needs a command: exec:COMMAND")
        return Check("exec", value, command=rest.strip())
    allowed = _FORMS if not probes_only else _PROBES
    raise ValueError(f"unknown check {value!r} (use {allowed})")
