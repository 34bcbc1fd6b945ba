"""Environment files for the `environment_file` option, read the way docker's `--env-file`
and systemd's `EnvironmentFile=` read them.

One `KEY=VALUE` per line; blank lines and `#` lines skipped; an optional `export ` in front.
An unquoted value is taken literally, stripped, and ends at an inline ` #`. A single-quoted
value is literal; a double-quoted one knows `\\n \\t \\" \\\\ \\$`. Both kinds may span lines.
Nothing is expanded: `$HOME` stays `$HOME`. Standard library only, no corral imports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Whitespace inside a line. Not str.strip()'s default: that would also eat Unicode spaces,
# which a value may mean to keep.
_WS = " \t\r\f\v"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_EXPORT = re.compile(r"export[ \t]+")
_INLINE_COMMENT = re.compile(r"[ \t\r\f\v]#")
# The body of a double-quoted value: a backslash takes the next character with it, so `\"`
# does not end the value. Where it stops is the closing quote, or proof there is none.
_DQ_BODY = re.compile(r'(?:[^"\\]|\\.)*', re.DOTALL)
_DQ_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_DQ_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
_SHOWN = 80  # how much of a bad line an error message quotes


@dataclass(frozen=True)
class EnvFile:
    """One path of the option's value."""

    path: str  # as written, without the leading '-'
    optional: bool  # written with a leading '-' (systemd's convention): a missing file is fine


class EnvFileError(Exception):
    """A file that cannot be read or a line that does not parse. str() is the whole message,
    file and line included; `path` and `line` are there for callers that want them apart."""

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


def parse_env_files(text: str) -> tuple[EnvFile, ...]:
    """The option's value: comma-separated paths, each optionally marked with a leading '-'."""
    files = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue  # "a.env, , b.env" and a trailing comma are harmless
        optional = item.startswith("-")
        path = item[1:].strip() if optional else item
        if not path:
            raise ValueError(f"empty path after '-' in {text.strip()!r}")
        files.append(EnvFile(path, optional))
    return tuple(files)


def parse_env_text(text: str, path: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a file's contents, in file order; `path` is for messages."""
    # Windows line endings become plain ones, inside quoted values too.
    text = text.replace("\r\n", "\n")
    pairs: list[tuple[str, str]] = []
    n = len(text)
    pos = 0  # start of the current line
    lineno = 1
    while pos < n:
        eol = _eol(text, pos)
        line = text[pos:eol]
        body = line.strip(_WS)
        if not body or body.startswith("#"):
            pos, lineno = eol + 1, lineno + 1
            continue
        key_text, sep, _ = line.partition("=")
        if not sep:
            raise _error(path, lineno, "not KEY=VALUE", line)
        key = key_text.strip(_WS)
        # Stripped first, so `export=1` and `export =1` set a key named "export".
        if m := _EXPORT.match(key):
            key = key[m.end() :]
        if not _KEY.fullmatch(key):
            raise _error(path, lineno, f"not KEY=VALUE (bad key {key!r})", line)
        after_eq = pos + len(key_text) + 1
        start = after_eq
        while start < eol and text[start] in _WS:
            start += 1
        quote = text[start] if start < eol else ""
        if quote in ("'", '"'):
            value, close = _quoted(text, start, path, lineno, line)
            # The entry ends on the line of its closing quote, which may be a later one.
            end_lineno = lineno + text.count("\n", start, close)
            eol = _eol(text, close)
            tail = text[close + 1 : eol].lstrip(_WS)
            if tail and not tail.startswith("#"):
                raise _error(
                    path,
                    end_lineno,
                    "unexpected text after closing quote",
                    text[text.rfind("\n", 0, close) + 1 : eol],
                )
            raw_start, raw_end = start, close
        else:
            raw = text[after_eq:eol]
            # Searched before stripping, so `KEY= #note` is an empty value with a comment.
            if m := _INLINE_COMMENT.search(raw):
                raw = raw[: m.start()]
            value = raw.strip(_WS)
            end_lineno = lineno
            raw_start, raw_end = after_eq, eol
        # The kernel takes the environment as C strings: a NUL would cut the value short.
        if "\0" in value:
            nul = text.index("\0", raw_start, raw_end)
            nul_lineno = lineno + text.count("\n", pos, nul)
            nul_line = text[text.rfind("\n", 0, nul) + 1 : _eol(text, nul)]
            raise _error(path, nul_lineno, "NUL byte in value", nul_line)
        pairs.append((key, value))
        pos, lineno = eol + 1, end_lineno + 1
    return pairs


def read_env_files(files: Sequence[EnvFile]) -> list[tuple[str, str]]:
    """Read and parse each file now, in order; the caller builds a dict, so later wins.

    Called at every spawn, so an edited or rotated file reaches the next start. A missing
    file is an error unless it is optional; a file that exists but cannot be read always is.
    """
    pairs: list[tuple[str, str]] = []
    for file in files:
        try:
            with open(file.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if file.optional:
                continue
            raise EnvFileError(f"environment file {file.path} not found", path=file.path)
        except OSError as e:
            reason = e.strerror or str(e)
            raise EnvFileError(f"environment file {file.path}: {reason}", path=file.path)
        # Values may be any bytes; surrogateescape carries the non-UTF-8 ones through to
        # the child's environment unchanged (os.fsencode gives the same bytes back).
        pairs.extend(parse_env_text(data.decode("utf-8", "surrogateescape"), file.path))
    return pairs


def _eol(text: str, pos: int) -> int:
    """The index of the newline ending the line that holds `pos`, or the end of the text."""
    eol = text.find("\n", pos)
    return len(text) if eol < 0 else eol


def _quoted(text: str, start: int, path: str, lineno: int, line: str) -> tuple[str, int]:
    """The value of the quoted string at `text[start]`, and the index of its closing quote."""
    if text[start] == "'":
        close = text.find("'", start + 1)
        if close < 0:
            raise _error(path, lineno, "unterminated single-quoted value", line)
        return text[start + 1 : close], close
    m = _DQ_BODY.match(text, start + 1)
    close = m.end() if m else start + 1
    if close >= len(text) or text[close] != '"':
        raise _error(path, lineno, "unterminated double-quoted value", line)
    # Unknown escapes stay as written, backslash and all (systemd keeps them too).
    value = _DQ_ESCAPE.sub(lambda e: _DQ_ESCAPES.get(e[1], e[0]), text[start + 1 : close])
    return value, close


def _error(path: str, lineno: int, reason: str, line: str) -> EnvFileError:
    shown = repr(line[:_SHOWN]) + ("..." if len(line) > _SHOWN else "")
    return EnvFileError(f"{path}:{lineno}: {reason}: {shown}", path=path, line=lineno)
