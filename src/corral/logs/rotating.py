"""A log file that rotates by size, like Supervisor's child and main logs.

Rules (surface 3.3):
- after each write, if the file position is >= maxbytes > 0: close, shift
  `.N-1 -> .N` ... `.1 -> .2`, current -> `.1`, reopen empty; a file can exceed
  maxbytes by one write;
- backups == 0 with maxbytes > 0 truncates the file instead;
- anything that is not a regular file (/dev/stdout, a fifo, a tty, /dev/null)
  never rotates and never seeks, whatever maxbytes says (Supervisor dies with
  "Illegal seek" there; we do not);
- a path that is a symlink (/dev/stdout when the daemon's stdout was redirected
  to a file) is written and seeked but never rotated or cleared: renaming or
  unlinking it would rename /dev/stdout itself.

Anything else is written through an Outlet (outlet.py): never blocking, holding what
the target cannot take yet, `write` returning False until `when_writable` calls back.
Every target is opened with O_NONBLOCK, so a fifo without a reader never blocks open().

Regular files are opened *without* O_APPEND because Linux refuses splice(2)
into an O_APPEND file, and the capture path splices child pipes straight into
the log. Instead every write first seeks to the end, so several RotatingFiles
on one path in this process (all writes happen on the loop thread) still
append, and an external `copytruncate` is picked up at the next write.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence

from corral.logs import outlet as outlets
from corral.logs.sink import Resume

__all__ = ["RotatingFile"]

_DEFAULT_MODE = 0o644
RETRY_INTERVAL = 0.5  # seconds between opens of a fifo that has no reader


def _names_regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class RotatingFile:
    """One open log file with size-based rotation (a Sink). Regular files are written
    synchronously; anything else never blocks (see outlet.py)."""

    def __init__(
        self, path: str, maxbytes: int, backups: int, *, retry_interval: float = RETRY_INTERVAL
    ) -> None:
        self._path = path
        self._maxbytes = max(0, int(maxbytes))
        self._backups = max(0, int(backups))
        self._retry = retry_interval
        self._fd = -1
        self._outlet: outlets.Outlet | None = None
        self._closed = False
        self._size = 0
        self._regular = False
        self._rotatable = False
        # Permission bits to re-create the file with after rotate/clear, so an
        # AUTO log made 0600 by mkstemp stays 0600.
        self._mode = _DEFAULT_MODE
        self._open()

    # -- properties ---------------------------------------------------------

    @property
    def path(self) -> str:
        return self._path

    @property
    def size(self) -> int:
        """Bytes in the current file as far as we know (0 for non-regular targets)."""
        return self._size

    @property
    def maxbytes(self) -> int:
        return self._maxbytes

    @property
    def backups(self) -> int:
        return self._backups

    def set_limits(self, maxbytes: int, backups: int) -> None:
        """New rotation limits (update, live): the next write rotates if over them."""
        self._maxbytes = max(0, int(maxbytes))
        self._backups = max(0, int(backups))

    @property
    def is_regular(self) -> bool:
        """True when the target is a regular file (seekable, rotatable, splice-able)."""
        return self._regular

    @property
    def rotates(self) -> bool:
        return self._rotatable and self._maxbytes > 0

    @property
    def closed(self) -> bool:
        """close() was called. (A file that failed to reopen is not closed: the next
        write tries to open it again, and raises if it cannot.)"""
        return self._closed

    @property
    def pending(self) -> int:
        """Bytes written to us that the target has not taken yet (never for a regular file)."""
        return self._outlet.held(self) if self._outlet is not None else 0

    # -- opening ------------------------------------------------------------

    def _open(self) -> None:
        fd, st = outlets.open_nonblocking(self._path, self._mode)
        self._regular = fd >= 0 and stat.S_ISREG(st.st_mode)
        if not self._regular:
            self._rotatable = False
            self._size = 0
            self._outlet = outlets.share(self._path, fd, st, self._retry)
            return
        try:
            os.set_blocking(fd, True)
            self._mode = stat.S_IMODE(st.st_mode)
            self._size = os.lseek(fd, 0, os.SEEK_END)
        except OSError:
            os.close(fd)
            raise
        self._rotatable = _names_regular_file(self._path)
        self._fd = fd

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        outlet, self._outlet = self._outlet, None
        if outlet is not None:
            outlet.release(self)

    def _ensure_open(self) -> None:
        if self._closed:
            raise ValueError(f"log file {self._path!r} is closed")
        if self._fd < 0 and self._outlet is None:
            self._open()  # a reopen or rotation that failed: try again

    def fileno(self) -> int:
        fd = self._outlet.fileno() if self._outlet is not None else self._fd
        if fd < 0:
            raise ValueError(f"log file {self._path!r} is closed")
        return fd

    # -- writing ------------------------------------------------------------

    def prepare_external_write(self) -> int:
        """Seek to the end before bytes are spliced into fileno(); returns the room
        left before rotation (or -1 when the file never rotates)."""
        self._ensure_open()
        fd = self.fileno()
        if not self._regular:
            return -1
        self._size = os.lseek(fd, 0, os.SEEK_END)
        if not self.rotates:
            return -1
        return max(self._maxbytes - self._size, 0)

    def write(self, data: bytes) -> bool:
        """Write all of `data` (then rotate if the size limit was reached), or hold what
        a non-regular target cannot take now: False then, until `when_writable`."""
        self._ensure_open()
        if self._outlet is not None:
            return self._outlet.write(self, data)
        fd = self._fd
        self._size = os.lseek(fd, 0, os.SEEK_END)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        self._size += len(data)
        self._maybe_rotate()
        return True

    def write_parts(self, parts: Sequence[bytes | memoryview]) -> bool:
        """`write(b"".join(parts))`, without the join when the target is not a file."""
        if self._outlet is not None:
            self._ensure_open()
            return self._outlet.write_parts(self, parts)
        return self.write(b"".join(parts))

    def when_writable(self, callback: Resume) -> None:
        """Call back once nothing of ours is held (at once if nothing is)."""
        if self._outlet is not None:
            self._outlet.when_writable(self, callback)
        else:
            callback(None)

    def flush(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for held bytes to go out. Blocks: for the end of
        the daemon only."""
        if self._outlet is not None:
            self._outlet.flush(timeout)

    def after_external_write(self, n: int) -> None:
        """Account for `n` bytes spliced into fileno() and rotate if needed."""
        if self._regular:
            self._size += n
            self._maybe_rotate()

    # -- rotation -----------------------------------------------------------

    def _maybe_rotate(self) -> None:
        if self.rotates and self._size >= self._maxbytes:
            self.rotate()

    def rotate(self) -> None:
        """Shift backups and start an empty current file (truncate if backups=0)."""
        if not self._rotatable:
            return
        if self._backups == 0:
            os.ftruncate(self.fileno(), 0)
            os.lseek(self._fd, 0, os.SEEK_SET)
            self._size = 0
            return
        self._close_fd()
        for i in range(self._backups - 1, 0, -1):
            self._rename(f"{self._path}.{i}", f"{self._path}.{i + 1}")
        if not self._rename(self._path, f"{self._path}.1"):
            # Could not move the current file away: start it over rather than grow forever.
            try:
                os.truncate(self._path, 0)
            except OSError:
                pass
        self._open()

    @staticmethod
    def _rename(src: str, dst: str) -> bool:
        try:
            os.replace(src, dst)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    # -- reopen / clear / close ---------------------------------------------

    def reopen(self) -> None:
        """Close and reopen the same path (SIGUSR2, after an external logrotate).

        A non-regular target keeps what it holds; a fifo without a reader is opened
        later, on a timer, instead of blocking here."""
        if self._closed:
            return
        if self._outlet is not None:
            self._outlet.reopen()
            return
        self._close_fd()
        self._open()

    def clear(self) -> None:
        """Delete the current file and start it empty; backups are kept.

        Non-regular targets and symlinks (/dev/stdout...) are left alone."""
        if not self._rotatable:
            return
        self._close_fd()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass
        self._open()

    def close(self) -> None:
        self._closed = True
        self._close_fd()

    def __repr__(self) -> str:
        return (
            f"RotatingFile({self._path!r}, maxbytes={self._maxbytes}, "
            f"backups={self._backups}, size={self._size})"
        )
