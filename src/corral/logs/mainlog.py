"""The daemon's own log (surface 3.1).

Each line is `YYYY-MM-DD HH:MM:SS,mmm LEVL message` in local time, written with
one os.write so lines never interleave. Targets: a RotatingFile (path), syslog
(path 'syslog': `LEVL message` at the matching syslog priority, without our time stamp,
which syslog adds itself; 4.3 sends its whole file line at LOG_INFO),
and/or stdout when running in the foreground and not silent (echo=True).
"""

from __future__ import annotations

import os
import sys
import syslog
import time

from corral.logs import syslogsink
from corral.logs.rotating import RotatingFile

__all__ = ["LEVELS", "LEVEL_CODES", "MainLog", "format_line", "level_number"]

LEVELS: dict[str, int] = {
    "critical": 50,
    "error": 40,
    "warn": 30,
    "info": 20,
    "debug": 10,
    "trace": 5,
    "blather": 3,
}
LEVEL_CODES: dict[int, str] = {
    50: "CRIT",
    40: "ERRO",
    30: "WARN",
    20: "INFO",
    10: "DEBG",
    5: "TRAC",
    3: "BLAT",
}
_ALIASES = {"warning": "warn"}
# Levels below debug have no syslog priority of their own.
_SYSLOG_PRIORITY: dict[int, int] = {
    50: syslog.LOG_CRIT,
    40: syslog.LOG_ERR,
    30: syslog.LOG_WARNING,
    20: syslog.LOG_INFO,
    10: syslog.LOG_DEBUG,
    5: syslog.LOG_DEBUG,
    3: syslog.LOG_DEBUG,
}


def level_number(name: str) -> int:
    """Numeric level of a level name (case-insensitive); ValueError if unknown."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    try:
        return LEVELS[key]
    except KeyError:
        raise ValueError(f"unknown log level {name!r}")


def format_line(level: int, msg: str, now: float | None = None) -> str:
    """One log line, newline included."""
    if now is None:
        now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now))
    millis = int((now % 1) * 1000)
    return f"{stamp},{millis:03d} {LEVEL_CODES[level]} {msg}\n"


def _encode(line: str) -> bytes:
    try:
        return line.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return line.encode("utf-8", "backslashreplace")


def _is_stdout(path: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.fstat(1))
    except (OSError, ValueError):
        return False


class MainLog:
    def __init__(
        self,
        path: str | None,
        maxbytes: int,
        backups: int,
        level: str,
        *,
        echo: bool,
    ) -> None:
        self._path = path
        self._level = level_number(level)
        # logfile=/dev/stdout in the foreground (containers): the file already is stdout
        self._echo = echo and not (path is not None and _is_stdout(path))
        self._syslog = path == "syslog"
        self._file: RotatingFile | None = None
        if path is not None and not self._syslog:
            self._file = RotatingFile(path, maxbytes, backups)
        self._write_failed = False

    @property
    def path(self) -> str | None:
        """The log file path (None when there is no file, 'syslog' for syslog)."""
        return self._path

    @property
    def level(self) -> int:
        return self._level

    def set_level(self, level: str) -> None:
        self._level = level_number(level)

    def is_enabled(self, level_name: str) -> bool:
        """Would a message at this level go anywhere? Cheap, for hot paths."""
        if self._file is None and not self._syslog and not self._echo:
            return False
        level = LEVELS.get(level_name)
        return (level if level is not None else level_number(level_name)) >= self._level

    def log(self, level_name: str, msg: str) -> None:
        level = LEVELS.get(level_name)
        if level is None:
            level = level_number(level_name)
        if level < self._level:
            return
        line = format_line(level, msg)
        if self._file is not None and not self._file.closed:
            try:
                self._file.write(_encode(line))
            except OSError as exc:
                self._complain(exc)
        if self._syslog:
            priority = _SYSLOG_PRIORITY[level]
            for part in msg.splitlines() or [""]:
                syslogsink.send(priority, f"{LEVEL_CODES[level]} {part}")
        if self._echo:
            self._write_stdout(line)

    def _complain(self, exc: OSError) -> None:
        # The log is where errors go; when it fails, say so once on stderr.
        if not self._write_failed:
            self._write_failed = True
            try:
                sys.stderr.write(f"corral: cannot write main log {self._path}: {exc}\n")
            except (OSError, ValueError):
                pass

    @staticmethod
    def _write_stdout(line: str) -> None:
        try:
            fd = sys.stdout.fileno()
        except (OSError, ValueError, AttributeError):
            fd = -1
        if fd < 0:
            # stdout replaced by a Python object (tests, embedding).
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (OSError, ValueError):
                pass
            return
        try:
            sys.stdout.flush()
            data = _encode(line)
            while data:
                data = data[os.write(fd, data) :]
        except (OSError, ValueError):
            pass

    def critical(self, msg: str) -> None:
        self.log("critical", msg)

    def error(self, msg: str) -> None:
        self.log("error", msg)

    def warn(self, msg: str) -> None:
        self.log("warn", msg)

    warning = warn

    def info(self, msg: str) -> None:
        self.log("info", msg)

    def debug(self, msg: str) -> None:
        self.log("debug", msg)

    def trace(self, msg: str) -> None:
        self.log("trace", msg)

    def blather(self, msg: str) -> None:
        self.log("blather", msg)

    def reopen(self) -> None:
        if self._file is not None:
            self._file.reopen()

    def clear(self) -> None:
        if self._file is not None:
            self._file.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
