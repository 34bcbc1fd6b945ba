"""Reading Supervisor's INI dialect with line numbers kept, plus `%(name)s` expansion.

We read the text ourselves instead of using configparser so every option and section
remembers the file and line it came from. The rules follow configparser as Supervisor
configures it: '=' or ':' delimiters, ';'/'#' comments (inline ones need whitespace before
them), lower-cased option names, case-sensitive section names, indented continuation lines,
a [DEFAULT] section, duplicate sections merged (later key wins), no interpolation.
"""

from __future__ import annotations

import os
import re

from corral.config.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from corral.config.model import Warning_

DEFAULT_SECTION = "DEFAULT"
_SECTION_RE = re.compile(r"\[(?P<header>.+)\]")
_OPTION_RE = re.compile(r"(?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$")
_COMMENT_PREFIXES = ("#", ";")


# Plain classes, not dataclasses: corralctl reads its section through this module, and
# `dataclasses` alone costs it ~10 ms to import.
class Value:
    """One option's raw text and where it was written."""

    __slots__ = ("file", "line", "text")

    def __init__(self, text: str, file: str, line: int) -> None:
        self.text = text
        self.file = file
        self.line = line

    def __repr__(self) -> str:
        return f"Value({self.text!r}, {self.file!r}, {self.line!r})"

    @property
    def here(self) -> str:
        return os.path.dirname(os.path.abspath(self.file))


class Section:
    """A section after merging; `file`/`line` are those of its last header."""

    __slots__ = ("file", "line", "name", "options")

    def __init__(self, name: str, file: str, line: int) -> None:
        self.name = name
        self.file = file
        self.line = line
        self.options: dict[str, Value] = {}

    def __repr__(self) -> str:
        return f"Section({self.name!r}, {self.file!r}, {self.line!r}, {self.options!r})"


class IniDoc:
    def __init__(self) -> None:
        self.sections: dict[str, Section] = {}
        self.defaults: dict[str, Value] = {}
        self.files: list[str] = []
        self.warnings: list[Warning_] = []

    def get(self, section: Section, name: str) -> Value | None:
        """Look an option up in the section, then in [DEFAULT]."""
        value = section.options.get(name)
        if value is None:
            value = self.defaults.get(name)
        return value


def _strip_comment(line: str) -> str:
    """Cut a comment: a line starting with a prefix, or a prefix preceded by whitespace."""
    stripped = line.strip()
    if stripped.startswith(_COMMENT_PREFIXES):
        return ""
    cut = len(line)
    for prefix in _COMMENT_PREFIXES:
        index = line.find(prefix)
        while index != -1 and index < cut:
            if index == 0 or line[index - 1].isspace():
                cut = index
                break
            index = line.find(prefix, index + 1)
    return line[:cut].strip()


def parse_text(text: str, file: str, doc: IniDoc) -> None:
    """Parse one file's text into `doc` (merging with what is already there)."""
    current: dict[str, Value] | None = None
    option: str | None = None
    indent_level = 0
    pending_blank = 0  # blank lines inside a value, kept only if more value follows
    bad: list[tuple[int, str]] = []
    raw_lines = text.splitlines(keepends=True)
    for lineno, raw in enumerate(raw_lines, start=1):
        value = _strip_comment(raw)
        if not value:
            if current is not None and option is not None and not raw.strip():
                pending_blank += 1
            continue
        cur_indent = len(raw) - len(raw.lstrip())
        if current is not None and option is not None and cur_indent > indent_level:
            held = current[option]
            held.text = held.text + "\n" * (pending_blank + 1) + value
            pending_blank = 0
            continue
        pending_blank = 0
        indent_level = cur_indent
        match = _SECTION_RE.match(value)
        if match:
            name = match.group("header")
            option = None
            if name == DEFAULT_SECTION:
                current = doc.defaults
                continue
            section = doc.sections.get(name)
            if section is None:
                section = doc.sections[name] = Section(name, file, lineno)
            else:
                section.file, section.line = file, lineno
            current = section.options
            continue
        if current is None:
            message = f"File contains no section headers.\nfile: {file!r}, line: {lineno}\n{raw!r}"
            raise ConfigError(message, file=file, line=lineno, located=True)
        match = _OPTION_RE.match(value)
        if match is None or not match.group("option"):
            bad.append((lineno, raw))
            option = None
            continue
        option = match.group("option").rstrip().lower()
        current[option] = Value(match.group("value").strip(), file, lineno)
    if bad:
        details = "".join(f"\n\t[line {n:2d}]: {line!r}" for n, line in bad)
        message = f"Source contains parsing errors: {file!r}{details}"
        raise ConfigError(message, file=file, line=bad[0][0], located=True)


def read_file(path: str, doc: IniDoc) -> None:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise ConfigError(f"could not read config file {path}: {exc.strerror}", file=path)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"could not decode config file {path}: {exc}", file=path)
    doc.files.append(path)
    parse_text(text, path, doc)


def read_with_includes(path: str, environ: Mapping[str, str]) -> IniDoc:
    """Read the main file, then each [include] match; included files' includes are ignored."""
    import glob
    import platform

    from corral.config.model import Warning_

    doc = IniDoc()
    read_file(path, doc)
    include = doc.sections.get("include")
    if include is None:
        return doc
    files = doc.get(include, "files")
    if files is None:
        raise ConfigError(
            ".ini file has [include] section, but no files setting",
            file=include.file,
            line=include.line,
        )
    base = os.path.dirname(os.path.abspath(path))
    names: dict[str, object] = env_names(environ)
    names["here"] = files.here
    names["host_node_name"] = platform.node()
    try:
        patterns = expand(files.text, names, "include.files").split()
    except ValueError as exc:
        raise ConfigError(str(exc), file=files.file, line=files.line)
    for pattern in patterns:
        pattern = os.path.join(base, pattern)
        matches = sorted(glob.glob(pattern))
        if not matches:
            doc.warnings.append(Warning_("warn", f'No file matches via include "{pattern}"'))
        for match in matches:
            doc.warnings.append(Warning_("info", f'Included extra file "{match}" during parsing'))
            read_file(match, doc)
    # An [include] in an included file must not chain; keep the main file's only.
    return doc


def env_names(environ: Mapping[str, str]) -> dict[str, object]:
    return {"ENV_" + key: value for key, value in environ.items()}


def expand(text: str, names: Mapping[str, object], where: str) -> str:
    """Python %-format `text` against `names`, with Supervisor's error messages.

    Raises ValueError carrying the message. Text without '%' is returned untouched.
    """
    if "%" not in text:
        return text
    try:
        return text % names
    except KeyError as exc:
        available = ", ".join(sorted(names))
        raise ValueError(
            f"Format string {text!r} for {where!r} contains names ({exc.args[0]!r}) which "
            f"cannot be expanded. Available names: {available}"
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"Format string {text!r} for {where!r} is badly formatted: {exc}")
