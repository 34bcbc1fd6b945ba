"""The [supervisorctl] section, for corralctl: read fast, nothing but this section.

Like supervisorctl, [include] is not followed: the section must be in the file itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from corral.config.ini import IniDoc, Section, env_names, expand, read_file
from corral.config.model import ConfigError, CtlConfig
from corral.config.options import options_for


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
    for name, option in options_for("supervisorctl").items():
        value = doc.get(section, name) if section is not None else None
        raw = value.text if value is not None else option.default
        if raw is None or not isinstance(raw, str):
            values[name] = None
            continue
        names = dict(env)
        if option.scope != "env":
            names["here"] = (
                value.here
                if value
                else os.path.dirname(os.path.abspath(section.file))
                if section
                else os.getcwd()
            )
        where = f"supervisorctl.{name}"
        try:
            values[name] = option.convert(expand(raw, names, where))
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
    )


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
