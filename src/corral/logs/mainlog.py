"""The daemon's own log (surface 3.1).

Each line is `YYYY-MM-DD HH:MM:SS,mmm LEVL message` in local time, written with
one os.write so lines never interleave. Targets: a RotatingFile (path), syslog
(path 'syslog': `LEVL message` at the matching syslog priority, without our time stamp,
which syslog adds itself; 4.3 sends its whole file line at LOG_INFO),
and/or stdout when running in the foreground and not silent (echo=True).

The main log never blocks the loop either. A file or stdout that is not a regular
file (a pipe, a fifo, a tty) is written through an Outlet, shared with any program
whose log names the same target, so lines keep their order. The daemon's own lines
cannot be held back at their source, so up to 256 KiB of them wait for a slow target;
past that whole lines are dropped, and once the target has taken what waited a WARN
line says how many. stdout is reopened through /proc/self/fd for its own non-blocking
file description: the O_NONBLOCK flag of the description the daemon was started with
(shared with the shell or container runtime that started it) is never changed.
"""

from __future__ import annotations

import os
import stat
import sys
import syslog
import time
from functools import partial
from typing import TYPE_CHECKING

from corral.config.loglevels import LEVEL_CODES, LEVELS, level_number
from corral.logs import outlet as outlets
from corral.logs import syslogsink
from corral.logs.rotating import RotatingFile
from corral.logs.sink import Dropped

if TYPE_CHECKING:
    from corral.logs.console import Console

__all__ = ["LEVELS", "LEVEL_CODES", "MainLog", "format_line", "level_number"]

HELD_MAX = 256 * 1024  # main log bytes that may wait for a slow target before lines drop
_CLOSE_WAIT = 1.0  # seconds the last lines may take to go out at exit
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
        # stdout's fd -> our own non-blocking description of it (None: write it directly)
        self._echo_sinks: dict[int, RotatingFile | None] = {}
        self._dropped: dict[RotatingFile, list[int]] = {}  # sink -> [lines, bytes]
        self._waiting: set[RotatingFile] = set()
        self._closed = False
        self._console: Console | None = None
        self._echo_wanted = echo

    def attach_console(self, console: Console | None) -> None:
        """In the foreground with the console on, the echo of our lines goes to the console
        (under the name `corrald`), in its format, in order with the programs' lines."""
        self._console = console if self._echo_wanted else None

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
        if self._file is None and not self._syslog and not self._echo and self._console is None:
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
            self._emit(self._file, _encode(line))
        if self._syslog:
            priority = _SYSLOG_PRIORITY[level]
            for part in msg.splitlines() or [""]:
                syslogsink.send(priority, f"{LEVEL_CODES[level]} {part}")
        if self._console is not None:
            self._console.daemon(LEVEL_CODES[level], msg, line)
        elif self._echo:
            self._write_stdout(line)

    def _emit(self, sink: RotatingFile, data: bytes) -> None:
        """One line to a sink; a line that would make it hold more than HELD_MAX is dropped
        whole, and counted."""
        if sink.pending > HELD_MAX:
            counts = self._dropped.setdefault(sink, [0, 0])
            counts[0] += 1
            counts[1] += len(data)
            return
        try:
            taken = sink.write(data)
        except OSError as exc:
            if sink is self._file:
                self._complain(exc)
            return
        if not taken and sink not in self._waiting:
            self._waiting.add(sink)
            sink.when_writable(partial(self._drained, sink))

    def _drained(self, sink: RotatingFile, dropped: Dropped | None) -> None:
        self._waiting.discard(sink)
        if dropped is not None and sink is self._file:
            self._complain(dropped.error)
        counts = self._dropped.pop(sink, None)
        if counts is not None and not sink.closed:
            where = self._path if sink is self._file else "stdout"
            self.warn(
                f"{counts[0]} lines ({counts[1]} bytes) of the main log were dropped "
                f"while {where} was not writable"
            )

    def _complain(self, exc: OSError) -> None:
        # The log is where errors go; when it fails, say so once on stderr.
        if not self._write_failed:
            self._write_failed = True
            try:
                sys.stderr.write(f"corral: cannot write main log {self._path}: {exc}\n")
            except (OSError, ValueError):
                pass

    def _echo_sink(self, fd: int) -> RotatingFile | None:
        """Our own non-blocking file description of stdout, unless it is a regular file
        (written directly: a disk does not block) or cannot be reopened (no /proc)."""
        if self._closed:
            return None  # a line after close() (at exit): written directly
        if fd not in self._echo_sinks:
            sink = None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    sink = RotatingFile(f"/proc/self/fd/{fd}", 0, 0)
            except OSError:
                pass
            self._echo_sinks[fd] = sink
        return self._echo_sinks[fd]

    def _write_stdout(self, line: str) -> None:
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
        except (OSError, ValueError):
            pass
        data = _encode(line)
        sink = self._echo_sink(fd)
        if sink is not None:
            self._emit(sink, data)
            return
        try:
            while data:
                data = data[os.write(fd, data) :]
        except OSError:
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
        """At exit: the last lines get a moment (a second or two) to reach a slow target."""
        self._closed = True
        console, self._console = self._console, None
        if console is not None:
            console.close(_CLOSE_WAIT)
        sinks = [s for s in self._echo_sinks.values() if s is not None]
        if self._file is not None:
            sinks.append(self._file)
        for sink in sinks:
            if not sink.closed:
                sink.flush(_CLOSE_WAIT)
            sink.close()
        self._echo_sinks.clear()
        # programs' logs on pipes or fifos that were closed while still holding bytes
        outlets.flush_lingering(_CLOSE_WAIT)
