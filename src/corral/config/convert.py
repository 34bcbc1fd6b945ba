"""Value converters: config text -> typed value, or ValueError with Supervisor's message.

Each converter takes the (already expanded) text and returns the typed value; the builder
adds the file, line and section to the message.
"""

from __future__ import annotations

import grp
import importlib
import os
import pwd
import shlex
import signal
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import urlparse

from corral.config.loglevels import LEVEL_NAMES
from corral.config.model import AUTO, AutoRestart
from corral.wire.events import PARENT

_TRUE = frozenset(("yes", "true", "on", "1"))
_FALSE = frozenset(("no", "false", "off", "0"))
_SIZE_SUFFIXES = (("kb", 1024), ("mb", 1024**2), ("gb", 1024**3))
# Aliases (SIGIOT, SIGCLD, SIGPOLL) included: 4.3 takes them.
_SIGNALS = {name: int(sig) for name, sig in signal.Signals.__members__.items()}
_SIGNAL_NUMBERS = frozenset(_SIGNALS.values())
T = TypeVar("T")


def boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a valid boolean value: {text!r}")


def integer(text: str) -> int:
    return int(text)  # Python's own message is the one Supervisor shows


def byte_size(text: str) -> int:
    lowered = text.strip().lower()
    for suffix, factor in _SIZE_SUFFIXES:
        if lowered.endswith(suffix):
            return int(lowered[: -len(suffix)]) * factor
    return int(lowered)


def octal(text: str) -> int:
    try:
        return int(text, 8)
    except (TypeError, ValueError):
        raise ValueError(f"{text} can not be converted to an octal type")


def parse_signal(value: str | int) -> int:
    """The one reader of a signal (stopsignal=, signalProcess): a name with or without SIG,
    any case, or the number of a named signal; ValueError with 4.3's message otherwise.
    0 is refused (4.3 takes it: a stop signal that does nothing); so are the unnamed
    real-time numbers, as in 4.3."""
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(value)
        except ValueError:
            name = value.strip().upper()
            if not name.startswith("SIG"):
                name = "SIG" + name
            if name not in _SIGNALS:
                raise ValueError(f"value {value!r} is not a valid signal name") from None
            return _SIGNALS[name]
    if number not in _SIGNAL_NUMBERS:
        raise ValueError(f"value {value!r} is not a valid signal number")
    return number


def signal_name(number: int) -> str:
    """'SIGTERM' for 15; 'signal 40' for a number without a name (as 4.3 prints them)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_codes(text: str) -> tuple[int, ...]:
    if not text.strip():
        return ()
    try:
        codes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"not a valid list of exit codes: {text!r}")
    if any(code < 0 or code > 255 for code in codes):
        raise ValueError(f"not a valid list of exit codes: {text!r}")
    return codes


def key_value_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """`K=V,K2="v, 2"` -> pairs. Tokens come in fours: key, '=', value, ','."""
    lexer = shlex.shlex(text, posix=True)
    lexer.wordchars += "/.+-():"
    lexer.whitespace_split = False
    try:
        tokens = list(lexer)
    except ValueError as exc:  # e.g. an unclosed quote
        raise ValueError(f"Error parsing key/value pairs in value {text!r}: {exc}")
    pairs: list[tuple[str, str]] = []
    for index in range(0, len(tokens), 4):
        if index + 2 >= len(tokens):
            raise ValueError(f"Unexpected end of key/value pairs in value {text!r}")
        pairs.append((tokens[index].strip(), tokens[index + 2].strip()))
    return tuple(pairs)


def log_level(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in LEVEL_NAMES:
        raise ValueError(f"bad logging level name {text!r}")
    return lowered


def existing_dirpath(text: str) -> str:
    """A path whose directory part exists; returned absolute."""
    path = os.path.expanduser(text)
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        raise ValueError(f"The directory named as part of the path {text} does not exist")
    return os.path.abspath(path)


def existing_file(text: str) -> str:
    """A file that exists and can be read (TLS certificates and keys); returned absolute."""
    path = os.path.abspath(os.path.expanduser(text.strip()))
    if not os.path.isfile(path):
        raise ValueError(f"{text} is not an existing file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{text} cannot be read")
    return path


def existing_directory(text: str) -> str:
    path = os.path.expanduser(text)
    if not os.path.isdir(path):
        raise ValueError(f"{text} is not an existing directory")
    return os.path.abspath(path)


def logfile_name(text: str) -> str | None:
    """A child log: path, AUTO, 'syslog', or None for NONE/OFF."""
    upper = text.strip().upper()
    if upper in ("NONE", "OFF"):
        return None
    if upper == "AUTO":
        return AUTO
    if upper == "SYSLOG":
        return "syslog"
    return existing_dirpath(text)


def main_logfile(text: str) -> str | None:
    """supervisord's own log: path, 'syslog', or None for NONE/OFF."""
    upper = text.strip().upper()
    if upper in ("NONE", "OFF"):
        return None
    if upper == "SYSLOG":
        return "syslog"
    return existing_dirpath(text)


def user_uid(text: str) -> int:
    try:
        uid = int(text)
    except ValueError:
        try:
            return pwd.getpwnam(text).pw_uid
        except KeyError:
            raise ValueError(f"Invalid user name {text}")
    try:
        pwd.getpwuid(uid)
    except KeyError:
        raise ValueError(f"Invalid user id {text}")
    return uid


def _group_gid(text: str) -> int:
    try:
        gid = int(text)
    except ValueError:
        try:
            return grp.getgrnam(text).gr_gid
        except KeyError:
            raise ValueError(f"Invalid group name {text}")
    try:
        grp.getgrgid(gid)
    except KeyError:
        raise ValueError(f"Invalid group id {text}")
    return gid


def user_group(text: str) -> tuple[int, int]:
    """`user` or `user:group` -> (uid, gid); gid -1 when no group is given."""
    user, sep, group = text.partition(":")
    if not user or (sep and not group):
        raise ValueError(f"Invalid user:group definition {text}")
    uid = user_uid(user)
    return uid, (_group_gid(group) if sep else -1)


def user_gid(uid: int) -> int:
    return pwd.getpwuid(uid).pw_gid


def autorestart(text: str) -> AutoRestart:
    lowered = text.strip().lower()
    if lowered == "unexpected":
        return AutoRestart.UNEXPECTED
    try:
        return AutoRestart.ALWAYS if boolean(lowered) else AutoRestart.NEVER
    except ValueError:
        raise ValueError(f"invalid 'autorestart' value {text!r}")


def _port_in_range(text: str) -> int:
    number = int(text)
    if number < 1:
        raise ValueError(f"{number} is below lower bound (1)")
    if number > 65535:
        raise ValueError(f"{number} is above upper bound (65535)")
    return number


def inet_address(text: str) -> tuple[str, int]:
    """`port`, `host:port`, `*:port`, `:port` -> (host, port); '' host = all interfaces."""
    if ":" not in text:
        try:
            return "", _port_in_range(text)
        except ValueError:
            raise ValueError(f"not a valid port number: {text!r} ")
    host, _, port = text.rpartition(":")
    host = host.lower()
    if host == "*":
        host = ""
    if not port:
        raise ValueError(f"no port number specified in {port!r}")
    return host, _port_in_range(port)


def name(text: str) -> str:
    """A program, group or process name: stripped, without space, ':' or '/'."""
    stripped = text.strip()
    for char in (" ", ":", "/"):
        if char in stripped:
            raise ValueError(f"Invalid name: {stripped!r} because of character: {char!r}")
    return stripped


def list_of_strings(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def url(text: str) -> str:
    parsed = urlparse(text)
    if parsed.scheme and (parsed.netloc or parsed.path):
        return text
    raise ValueError(f"value {text!r} is not a URL")


def string(text: str) -> str:
    return text


def optional_string(text: str) -> str | None:
    return text


def _reworded(convert: Callable[[str], T], label: str) -> Callable[[str], T]:
    """Same conversion, but Supervisor's `Invalid <label> value <v>` message."""

    def wrapper(text: str) -> T:
        try:
            return convert(text)
        except ValueError:
            raise ValueError(f"Invalid {label} value {text}")

    wrapper.__name__ = label
    return wrapper


chmod = _reworded(octal, "chmod")
sockchown = _reworded(user_group, "sockchown")
socket_owner = _reworded(user_group, "socket_owner")
socket_mode = _reworded(octal, "socket_mode")


def socket_backlog(text: str) -> int:
    try:
        return _port_in_range(text)  # same 1..65535 bounds
    except ValueError:
        raise ValueError(f"Invalid socket_backlog value {text}")


# Every event type name a listener may subscribe to; abstract ones cover their subtypes.
EVENT_TYPES = frozenset(PARENT)


# Supervisor's and corral's default result handler: known by name, so neither needs importing
# (a config written for 4.3 works without the supervisor package installed).
DEFAULT_HANDLER_NAMES = frozenset(
    {"supervisor.dispatchers:default_handler", "corral.runtime.listeners:default_handler"}
)


def import_callable(spec: str, what: str = "") -> Callable[..., object]:
    """'pkg.mod:callable' (an attribute path is allowed) -> the callable; ValueError if not.
    `what` names the option in the message ('result_handler ')."""
    name = f"{what}{spec!r}"
    modname, sep, attr = spec.partition(":")
    if not sep or not modname or not attr:
        raise ValueError(f"{name} is not of the form 'module:callable'")
    try:
        obj: object = importlib.import_module(modname)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as e:  # a user's module may fail to import in any way
        raise ValueError(f"cannot load {name}: {e}") from None
    if not callable(obj):
        raise ValueError(f"{name} is not callable")
    return obj
