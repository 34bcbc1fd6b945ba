"""A log target that is not a regular file (a pipe, a fifo, a tty, /dev/stdout), written
without ever blocking the loop.

Every writer naming the same target (the sinks of several programs and the main log's
echo all on /dev/stdout, say) shares one Outlet: one fd and one queue, so their bytes
reach the target in the order they were written, and a slow target never lets the
bytes of one writer cut into a held write of another.

- The fd is opened with O_NONBLOCK, so open() never waits for a fifo's reader. A named
  fifo without a reader (ENXIO at open, EPIPE at write) is tried again every
  `retry_interval` seconds; what is written meanwhile is held.
- What the target will not take now (EAGAIN) is held and sent from `loop.add_writer`;
  `write` returns False and the owner waits for `when_writable`.
- Any other failure (EPIPE on an anonymous pipe, whose reader is gone for good; EIO on
  a hung-up tty) raises from `write`, or, for bytes already held, drops them and tells
  each owner how many were its own (`Dropped`).
- A socket (the daemon's stdout under systemd) cannot be reopened through /proc: the fd
  is duplicated and written with MSG_DONTWAIT, leaving the shared file flags alone.

Outlets are looked up by target (device, inode) under a lock: a log can be opened on a
spawn worker thread. Everything else runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import itertools
import os
import re
import select
import socket
import stat
import threading
import time
from collections import deque
from collections.abc import Hashable, Sequence

from corral.logs.sink import Dropped, Resume

__all__ = ["LINGER", "Outlet", "flush_lingering", "open_nonblocking", "share"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
_BIG_PIPE = 1024 * 1024
_IOV_MAX = 1024  # Linux's limit on the buffers of one writev
LINGER = 10.0  # seconds a closed target may still take to send what it holds
_FD_ALIAS = re.compile(r"^/(?:proc/self|dev)/fd/(\d+)$")

_registry: dict[tuple[int, int], Outlet] = {}
_lock = threading.Lock()
_pipefs_dev: int | None = None


def _anonymous_pipe_dev() -> int:
    global _pipefs_dev
    if _pipefs_dev is None:
        r, w = os.pipe()
        try:
            _pipefs_dev = os.fstat(r).st_dev
        finally:
            os.close(r)
            os.close(w)
    return _pipefs_dev


def _is_named_fifo(st: os.stat_result) -> bool:
    return stat.S_ISFIFO(st.st_mode) and st.st_dev != _anonymous_pipe_dev()


def _fd_alias(path: str) -> int | None:
    """The fd a path like /dev/stdout stands for (through its symlinks), if any."""
    for _ in range(8):
        m = _FD_ALIAS.match(path)
        if m is not None:
            return int(m.group(1))
        try:
            target = os.readlink(path)
        except OSError:
            return None
        path = os.path.join(os.path.dirname(path), target)
    return None


def open_nonblocking(path: str, mode: int) -> tuple[int, os.stat_result]:
    """Open a log target without waiting: (fd, stat). fd is -1 for a named fifo that has
    no reader yet. OSError for anything that cannot be opened at all."""
    try:
        fd = os.open(path, _FLAGS, mode)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        st = os.stat(path)
        if _is_named_fifo(st):
            return -1, st
        alias = _fd_alias(path)
        if stat.S_ISSOCK(st.st_mode) and alias is not None:
            fd = os.dup(alias)
        else:
            raise
    try:
        return fd, os.fstat(fd)
    except OSError:
        os.close(fd)
        raise


def share(path: str, fd: int, st: os.stat_result, retry_interval: float) -> Outlet:
    """The Outlet for this target, made with `fd` or, if one exists, sharing it (then
    `fd` is closed). The caller must `release` it."""
    key = (st.st_dev, st.st_ino)
    with _lock:
        outlet = _registry.get(key)
        if outlet is None:
            outlet = _registry[key] = Outlet(path, key, fd, st, retry_interval)
        elif fd >= 0:
            os.close(fd)
        outlet.users += 1
    return outlet


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Outlet:
    def __init__(
        self,
        path: str,
        key: tuple[int, int],
        fd: int,
        st: os.stat_result,
        retry_interval: float,
    ) -> None:
        self.path = path
        self.users = 0
        self._key = key
        self._mode = stat.S_IMODE(st.st_mode)
        self._named_fifo = _is_named_fifo(st)
        self._retry = retry_interval
        self._fd = -1
        self._sock: socket.socket | None = None
        self._queue: deque[tuple[Hashable, memoryview]] = deque()
        self._held: dict[Hashable, int] = {}
        self._waiters: list[tuple[Hashable, Resume]] = []
        self._watch_loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._attach(fd, st)

    # -- the fd -------------------------------------------------------------------------

    def fileno(self) -> int:
        return self._fd

    def _attach(self, fd: int, st: os.stat_result) -> None:
        self._fd = fd
        if fd >= 0 and stat.S_ISSOCK(st.st_mode):
            self._sock = socket.socket(fileno=fd)
        elif fd >= 0 and stat.S_ISFIFO(st.st_mode):
            # A bigger pipe: a target that keeps up then almost never makes us hold.
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _BIG_PIPE)
            except (OSError, AttributeError):
                pass  # over the pipe-buffer quota, or not Linux

    def _detach(self) -> None:
        self._unwatch()
        fd, sock, self._fd, self._sock = self._fd, self._sock, -1, None
        try:
            if sock is not None:
                sock.close()
            elif fd >= 0:
                os.close(fd)
        except OSError:
            pass

    def _try_open(self) -> bool:
        """Open the path again if we hold no fd. OSError when it cannot be opened at all."""
        if self._fd < 0:
            fd, st = open_nonblocking(self.path, self._mode)
            self._attach(fd, st)
        return self._fd >= 0

    def reopen(self) -> None:
        """Close and open the path again (SIGUSR2). Held bytes stay held and go to the new
        fd; a fifo without a reader now is tried again on the timer."""
        self._detach()
        try:
            self._try_open()
        finally:
            self._flush()

    # -- writing ------------------------------------------------------------------------

    def held(self, owner: Hashable) -> int:
        """Bytes of `owner`'s still waiting to go out."""
        return self._held.get(owner, 0)

    def write(self, owner: Hashable, data: bytes) -> bool:
        """Send or hold all of `data`; False when some of `owner`'s bytes are held."""
        if not data:
            return owner not in self._held
        return self.write_parts(owner, (data,))

    def write_parts(self, owner: Hashable, parts: Sequence[bytes | memoryview]) -> bool:
        """`write` of the parts joined, without joining them: one writev(2) when nothing is
        held, and what the target does not take is held part by part (the console's lines
        of many programs, up to a megabyte an iteration, are never copied again here)."""
        if self._queue and self._watch_loop is None:
            self._flush()  # held while no loop ran: nothing was watching
        sent = 0
        if not self._queue:
            if self._fd < 0 and self._timer is None:
                try:
                    self._try_open()
                except OSError:
                    pass  # held, and tried again on the timer
            if self._fd >= 0:
                sent = self._send(parts)
                if sent == sum(map(len, parts)):
                    return True
        held = self._held.get(owner, 0)
        for part in parts:
            size = len(part)
            if sent >= size:
                sent -= size
                continue
            view = memoryview(part)
            if not view.readonly:
                view = memoryview(bytes(view))  # a bytearray could change under a held view
            view = view[sent:] if sent else view
            sent = 0
            self._queue.append((owner, view))
            held += len(view)
        if not held:
            return True  # nothing of this owner's waits (empty parts)
        self._held[owner] = held
        self._arm()
        return False

    def when_writable(self, owner: Hashable, callback: Resume) -> None:
        if owner not in self._held:
            callback(None)
        else:
            self._waiters.append((owner, callback))

    def _send(self, parts: Sequence[bytes | memoryview]) -> int:
        """One non-blocking write of up to _IOV_MAX parts: bytes taken (0 when the target
        is full or the fifo has lost its reader). OSError for a failure that loses them."""
        if len(parts) > _IOV_MAX:
            parts = parts[:_IOV_MAX]
        try:
            if self._sock is not None:
                return self._sock.sendmsg(parts, (), socket.MSG_DONTWAIT)
            if len(parts) == 1:
                return os.write(self._fd, parts[0])
            return os.writev(self._fd, parts)
        except BlockingIOError:
            return 0
        except BrokenPipeError:
            if not self._named_fifo:
                raise
            self._detach()  # the reader went away: wait for the next one
            return 0

    def _flush(self) -> None:
        if self._queue and self._fd < 0 and self._timer is None:
            try:
                self._try_open()  # no loop to run the timer: try whenever we are called
            except OSError:
                pass
        queue = self._queue
        while queue and self._fd >= 0:
            views = [view for _, view in itertools.islice(queue, _IOV_MAX)]
            try:
                n = self._send(views)
            except OSError as exc:
                self._drop_all(exc)
                return
            if n <= 0:
                break
            whole = n == sum(map(len, views))
            while n > 0:
                owner, view = queue[0]
                take = min(n, len(view))
                n -= take
                self._held[owner] -= take
                if not self._held[owner]:
                    del self._held[owner]
                if take < len(view):
                    queue[0] = (owner, view[take:])
                else:
                    queue.popleft()
            if not whole:
                break  # the target is full: the writer callback goes on
        if self._queue:
            self._arm()
        else:
            self._unwatch()
            if self.users <= 0:
                self._finish()  # a lingering outlet has sent everything
        self._wake()

    def _on_writable(self) -> None:
        self._flush()

    def _retry_open(self) -> None:
        self._timer = None
        if not self._queue:
            return
        try:
            self._try_open()
        except OSError as exc:
            self._drop_all(exc)
            return
        self._flush()

    def _arm(self) -> None:
        loop = _running_loop() or self._watch_loop
        if loop is None or loop.is_closed():
            return
        if self._fd < 0:
            if self._timer is None:
                self._timer = loop.call_later(self._retry, self._retry_open)
            return
        if self._watch_loop is not loop:
            self._unwatch()
            loop.add_writer(self._fd, self._on_writable)
            self._watch_loop = loop

    def _unwatch(self) -> None:
        loop, self._watch_loop = self._watch_loop, None
        if loop is not None and not loop.is_closed() and self._fd >= 0:
            loop.remove_writer(self._fd)

    def _wake(self, lost: dict[Hashable, int] | None = None, error: OSError | None = None) -> None:
        ready = [w for w in self._waiters if w[0] not in self._held]
        if not ready:
            return
        self._waiters = [w for w in self._waiters if w[0] in self._held]
        for owner, callback in ready:
            n = lost.get(owner, 0) if lost else 0
            callback(Dropped(error, n) if error is not None and n else None)

    def _drop_all(self, exc: OSError) -> None:
        lost = dict(self._held)
        self._queue.clear()
        self._held.clear()
        self._unwatch()
        self._wake(lost, exc)
        if self.users <= 0:
            self._finish()

    # -- the end ------------------------------------------------------------------------

    def flush(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the held bytes to go out (at exit only: this
        blocks)."""
        deadline = time.monotonic() + timeout
        while self._queue:
            try:
                opened = self._try_open()
            except OSError:
                opened = False
            if opened:
                self._flush()
            left = deadline - time.monotonic()
            if not self._queue or left <= 0:
                return
            if self._fd >= 0:
                select.select([], [self._fd], [], left)
            else:
                time.sleep(min(left, 0.05))

    def release(self, owner: Hashable) -> None:
        """`owner` is done: its held bytes still go out while others use the target. The
        last one out leaves the outlet lingering (up to LINGER seconds, on the loop) until
        what is held has gone out, so a program's last lines reach a slow reader; then
        the fd is closed. Whoever waited on `owner` is told now: no producer waits on a
        closed sink."""
        waiting = [w for w in self._waiters if w[0] is owner]
        self._waiters = [w for w in self._waiters if w[0] is not owner]
        with _lock:
            self.users -= 1
            last = self.users <= 0
        lost = 0
        if last:
            self._flush()
            loop = _running_loop()
            if self._queue and loop is not None:
                loop.call_later(LINGER, self._give_up)
            else:
                lost = self._held.get(owner, 0)
                self._finish()
        gone = OSError(errno.EBADF, "log closed with output still held")
        for _, callback in waiting:
            callback(Dropped(gone, lost) if lost else None)

    def _give_up(self) -> None:
        if self.users <= 0:
            self._finish()

    def _finish(self) -> None:
        """Close for good, unless a new user took the outlet over meanwhile."""
        with _lock:
            if self.users > 0:
                return
            if _registry.get(self._key) is self:
                del _registry[self._key]
        self._queue.clear()
        self._held.clear()
        self._waiters.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._detach()


def flush_lingering(timeout: float) -> None:
    """At exit: give outlets whose last user has gone `timeout` seconds in all to send
    what they still hold (this blocks), then close them."""
    deadline = time.monotonic() + timeout
    with _lock:
        lingering = [o for o in _registry.values() if o.users <= 0]
    for outlet in lingering:
        outlet.flush(max(deadline - time.monotonic(), 0.0))
        outlet._finish()
