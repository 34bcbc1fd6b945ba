"""The [supervisorctl] section, for corralctl: read fast, nothing but this section.

Like supervisorctl, [include] is not followed: the section must be in the file itself.
This module holds the section's option table (options.py lists it from here) and imports
only `ini` and `errors`, so corralctl never loads the daemon's model or option machinery.
"""

from __future__ import annotations

import os

from corral.config.errors import ConfigError
from corral.config.ini import IniDoc, env_names, expand, read_file

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from corral.config.ini import Section

# name, default, one-line doc, expansion scope ("here": %(here)s too; "env": ENV_ only).
# Every value is a plain string.
_URL_DOC = "unix:///path or http://host:port of the daemon."
CTL_OPTIONS: tuple[tuple[str, str | None, str, str], ...] = (
    ("serverurl", "http://localhost:9001", _URL_DOC, "here"),
    ("username", None, "Basic auth user name.", "env"),
    ("password", None, "Basic auth password.", "env"),
    ("prompt", "supervisor", "Interactive prompt text.", "env"),
    ("history_file", None, "readline history file.", "here"),
    (
        "cafile",
        None,
        "CA certificates to verify an https:// server (default: the system's).",
        "here",
    ),
    ("certfile", None, "Client certificate for a server that asks for one (mTLS).", "here"),
    ("keyfile", None, "The client certificate's key (when not in certfile).", "here"),
)


class CtlConfig:
    """What [supervisorctl] says; immutable and compared by value, like the model's records."""

    __slots__ = (
        "cafile",
        "certfile",
        "history_file",
        "keyfile",
        "password",
        "prompt",
        "serverurl",
        "username",
    )

    serverurl: str
    username: str | None
    password: str | None
    prompt: str
    history_file: str | None
    cafile: str | None
    certfile: str | None
    keyfile: str | None

    def __init__(
        self,
        serverurl: str,
        username: str | None,
        password: str | None,
        prompt: str,
        history_file: str | None,
        cafile: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        values = (serverurl, username, password, prompt, history_file, cafile, certfile, keyfile)
        for name, value in zip(_FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[str | None, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CtlConfig):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"CtlConfig({fields})"


_FIELDS = (
    "serverurl",
    "username",
    "password",
    "prompt",
    "history_file",
    "cafile",
    "certfile",
    "keyfile",
)


def _normalise(url: str) -> str:
    """`unix://` URLs get a normalised absolute path; others are kept as written."""
    if url.startswith("unix://"):
        return "unix://" + os.path.normpath(os.path.abspath(url[len("unix://") :]))
    return url


def ctl_from_section(
    doc: IniDoc, section: Section | None, environ: Mapping[str, str] | None = None
) -> CtlConfig:
    """Build a CtlConfig from a parsed section (None: all defaults)."""
    env = env_names(os.environ if environ is None else environ)
    values: dict[str, str | None] = {}
    for name, default, _doc, scope in CTL_OPTIONS:
        value = doc.get(section, name) if section is not None else None
        raw = value.text if value is not None else default
        if raw is None:
            values[name] = None
            continue
        names = dict(env)
        if scope != "env":
            names["here"] = (
                value.here
                if value
                else os.path.dirname(os.path.abspath(section.file))
                if section
                else os.getcwd()
            )
        try:
            values[name] = expand(raw, names, f"supervisorctl.{name}")
        except ValueError as exc:
            file, line = (
                (value.file, value.line)
                if value
                else (section.file, section.line)
                if section
                else (None, None)
            )
            raise ConfigError(str(exc), file=file, line=line)
    history = values["history_file"]
    return CtlConfig(
        serverurl=_normalise(values["serverurl"] or ""),
        username=values["username"],
        password=values["password"],
        prompt=values["prompt"] or "",
        history_file=os.path.expanduser(history) if history else None,
        cafile=_path(values["cafile"]),
        certfile=_path(values["certfile"]),
        keyfile=_path(values["keyfile"]),
    )


def _path(value: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(value)) if value else None


def load_ctl(path: str | None, *, environ: Mapping[str, str] | None = None) -> CtlConfig:
    """[supervisorctl] of `path`; all defaults when `path` is None."""
    doc = IniDoc()
    if path is None:
        return ctl_from_section(doc, None, environ)
    read_file(path, doc)
    section = doc.sections.get("supervisorctl")
    if section is None:
        raise ConfigError(".ini file does not include supervisorctl section", file=path)
    return ctl_from_section(doc, section, environ)
