"""Reading log files by offset (readLog / tailProcessStdoutLog) and following them.

Errors (the api layer maps them to faults):

    LogReadError
    ├── BadArguments   BAD_ARGUMENTS  negative length, or negative offset with length != 0
    ├── NoLogFile      NO_FILE        no log configured (path None) or the file is missing
    └── ReadFailed     FAILED         any other I/O error
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import stat
from collections.abc import AsyncIterator

__all__ = [
    "TRUNCATED_MARKER",
    "BadArguments",
    "LogReadError",
    "NoLogFile",
    "ReadFailed",
    "follow",
    "read_log",
    "tail_log",
]

TRUNCATED_MARKER = b"==> File truncated <==\n"
_FOLLOW_READ = 64 * 1024


def _open_log(path: str) -> io.BufferedReader:
    """Open a log for reading without ever waiting: a fifo opened for reading would block
    until a writer came (and then steal the bytes meant for its reader), so fifos and
    sockets are refused as not seekable, which is what reading them by offset would
    have found anyway."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise OSError(errno.ESPIPE, os.strerror(errno.ESPIPE), path)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        return open(fd, "rb", closefd=True)
    except OSError:
        os.close(fd)
        raise


class LogReadError(Exception):
    pass


class BadArguments(LogReadError):
    pass


class NoLogFile(LogReadError):
    """`path` is what the fault text shows: `NO_FILE: <path>` (`None` for NONE logs)."""

    def __init__(self, path: str | None) -> None:
        super().__init__(str(path))
        self.path = path


class ReadFailed(LogReadError):
    pass


def read_log(path: str | None, offset: int, length: int) -> bytes:
    """readLog semantics.

    offset >= 0: `length` bytes from `offset` (length 0 = to the end; past EOF -> b'').
    offset < 0: the last |offset| bytes; `length` must then be 0.
    """
    if path is None or not os.path.exists(path):
        raise NoLogFile(path)
    if offset < 0:
        if length != 0:
            raise BadArguments("negative offset requires length 0")
    elif length < 0:
        raise BadArguments("negative length")
    try:
        with _open_log(path) as f:
            if offset < 0:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(size + offset, 0))
                return f.read(-offset)
            f.seek(offset)
            return f.read() if length == 0 else f.read(length)
    except FileNotFoundError:
        raise NoLogFile(path)
    except OSError as exc:
        raise ReadFailed(str(exc))


def tail_log(path: str | None, offset: int, length: int) -> tuple[bytes, int, bool]:
    """tailProcessStdoutLog semantics as Supervisor 4.3 implements them.

    Returns (data, new offset, overflow): overflow is size > offset + length; the
    new offset is the file size; data is b'' when offset >= size or length <= 0,
    otherwise the *last* `length` bytes of the file (whole file if smaller): the
    requested offset is not a start position. A missing file gives (b'', 0, False).
    """
    if path is None:
        return b"", 0, False
    try:
        with _open_log(path) as f:
            size = f.seek(0, os.SEEK_END)
            overflow = size > offset + length
            if length <= 0 or offset >= size:
                return b"", size, overflow
            f.seek(max(size - length, 0))
            return f.read(length), size, overflow
    except FileNotFoundError:
        return b"", 0, False
    except OSError:
        return b"", offset, False


async def follow(path: str, initial: int = 1024, *, interval: float = 0.5) -> AsyncIterator[bytes]:
    """Yield the last `initial` bytes of `path`, then new data as it is written.

    Re-opens the path when its inode changes (rotation, clear), after draining
    what was left in the old file; yields TRUNCATED_MARKER when the file shrinks
    (copytruncate) and continues from its new start. Raises NoLogFile if the file
    cannot be opened at first.
    """
    try:
        f = _open_log(path)  # held open across yields, closed in finally
    except FileNotFoundError:
        raise NoLogFile(path)
    try:
        size = os.fstat(f.fileno()).st_size
        pos = max(size - max(initial, 0), 0)
        while True:
            # Drain the file we hold, a bounded read per yield.
            f.seek(pos)
            while True:
                data = f.read(_FOLLOW_READ)
                if not data:
                    break
                pos += len(data)
                yield data
            # The only polling in corral: a stat every `interval` seconds, and only
            # while an HTTP client is following this log.
            await asyncio.sleep(interval)
            held = os.fstat(f.fileno())
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            if held.st_size < pos:
                yield TRUNCATED_MARKER
                pos = 0
                continue
            if held.st_size > pos:
                continue  # more data in the file we hold; drain it first
            if current is not None and (current.st_ino, current.st_dev) != (
                held.st_ino,
                held.st_dev,
            ):
                try:
                    new = _open_log(path)
                except FileNotFoundError:
                    continue
                f.close()
                f = new
                pos = 0
    finally:
        f.close()
