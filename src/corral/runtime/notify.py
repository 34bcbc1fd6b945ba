"""The sd_notify protocol's receiving end: one datagram unix socket per process.

A message counts when it arrives on the process's own socket, whoever sent it: the real
`systemd-notify` run from a shell exits before its pid could be checked, so the socket,
not the sender's credentials, says which process a message is about. Sockets live as
files in one private directory (not in the abstract namespace) so that they can be
chowned to a program that runs as another user.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable

_RECV_MAX = 64 * 1024  # a longer datagram is truncated, not fatal
_DRAIN_MAX = 256  # datagrams per wake-up: a flooding sender cannot starve the loop
_SUN_PATH_MAX = 107  # sun_path is 108 bytes; keep a NUL so every client library accepts it
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def parse_notify(data: bytes) -> dict[str, str]:
    """KEY=VALUE lines of one datagram; later keys win, lines without '=' are ignored."""
    fields: dict[str, str] = {}
    for line in data.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


class NotifyDir:
    """The daemon's private directory for notify sockets.

    Mode 0711: a child running as another user can reach its own socket (its name is in
    NOTIFY_SOCKET) but cannot list the directory to find the others."""

    def __init__(self, parent: str | None = None) -> None:
        self.path = tempfile.mkdtemp(prefix="corral-notify-", dir=parent)
        os.chmod(self.path, 0o711)
        self._counter = itertools.count(1)

    def socket_path(self, name: str) -> str:
        """A path no other call returns: the sanitised name and a counter, or the counter
        alone when that would not fit in sun_path."""
        n = next(self._counter)
        path = os.path.join(self.path, f"{_UNSAFE.sub('_', name)}-{n}.sock")
        if len(os.fsencode(path)) <= _SUN_PATH_MAX:
            return path
        path = os.path.join(self.path, f"{n}.sock")
        if len(os.fsencode(path)) > _SUN_PATH_MAX:
            raise ValueError(f"notify directory path too long for a unix socket: {self.path}")
        return path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class NotifySocket:
    """One process's NOTIFY_SOCKET: every datagram is parsed and handed to on_message."""

    def __init__(
        self,
        path: str,
        on_message: Callable[[dict[str, str]], None],
        *,
        owner_uid: int | None = None,
        owner_gid: int | None = None,
    ) -> None:
        self._path = path
        self._on_message = on_message
        self._owner_uid = owner_uid
        self._owner_gid = owner_gid
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def path(self) -> str:
        return self._path

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._sock is not None:
            raise RuntimeError(f"notify socket already open: {self._path}")
        try:
            os.unlink(self._path)  # stale file from an earlier run
        except FileNotFoundError:
            pass
        sock = socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
        )
        try:
            sock.bind(self._path)
            os.chmod(self._path, 0o600)
            if self._owner_uid is not None or self._owner_gid is not None:
                # sending needs write permission on the file: the program's user owns it
                uid = -1 if self._owner_uid is None else self._owner_uid
                gid = -1 if self._owner_gid is None else self._owner_gid
                os.chown(self._path, uid, gid)
            loop.add_reader(sock.fileno(), self._drain)
        except BaseException:
            sock.close()
            self._unlink()
            raise
        self._sock = sock
        self._loop = loop

    def close(self) -> None:
        sock, loop = self._sock, self._loop
        self._sock = self._loop = None
        if sock is not None:
            if loop is not None:
                loop.remove_reader(sock.fileno())
            sock.close()
            self._unlink()

    def _unlink(self) -> None:
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def _drain(self) -> None:
        # plain recv: descriptors passed along (systemd-notify's BARRIER=1 sends one and
        # waits for it to be closed) are released by the kernel, so the sender goes on
        for _ in range(_DRAIN_MAX):
            sock, loop = self._sock, self._loop
            if sock is None or loop is None:
                return  # closed, perhaps by on_message
            try:
                data = sock.recv(_RECV_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                loop.call_exception_handler(
                    {"message": f"notify socket {self._path} failed", "exception": exc}
                )
                self.close()
                return
            try:
                self._on_message(parse_notify(data))
            except Exception as exc:  # one bad callback must not stop later messages
                loop.call_exception_handler(
                    {"message": f"notify handler for {self._path} raised", "exception": exc}
                )
