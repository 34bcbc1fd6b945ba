"""Accepting connections: the cap on open connections, making room, and running out of fds.

asyncio's own accept loop would do, except for three things a daemon needs: a cap on how many
connections it holds (one unauthenticated TCP client must not take every fd the daemon has
for spawning programs); making room at the cap by closing the connection that has waited
longest for a request (keep-alive idle, or a head still trickling in) instead of refusing
a new client; and, when accept() fails for want of fds, a back-off with one line in the
main log, not a traceback a second.

    connection_cap(limits)    the cap: Limits.max_connections, or derived from RLIMIT_NOFILE
    Gate                      listens on sockets, owns every connection task
"""

from __future__ import annotations

import asyncio
import errno
import resource
import select
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from corral.api import LoggerLike
from corral.server.connection import Limits

MAX_CONNECTIONS = 512
MIN_CONNECTIONS = 16
# A quarter of the fds: at the default minfds=1024 that is 256 connections, and 768 fds stay
# for the programs' pipes and log files.
FD_SHARE = 4
_ACCEPT_BATCH = 64  # accept() calls per readiness event before other work gets a turn
_READ = 64 * 1024
_RETRY_AFTER_EVICTING = 0.01  # seconds: the evicted fd is freed within a loop iteration or two
_RETRY_OUT_OF_FDS = 1.0  # seconds between accept() attempts while no fd is to be had
_OUT_OF_FDS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

_HANDSHAKE = 10.0  # seconds a client has to finish the TLS handshake
Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Slot"], Awaitable[None]]


def connection_cap(limits: Limits) -> int:
    if limits.max_connections is not None:
        return max(limits.max_connections, 1)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, min(MAX_CONNECTIONS, soft // FD_SHARE))


def _readable(sock: socket.socket) -> bool:
    """Whether a client waits in the backlog (poll needs no fd of its own, epoll would)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class Slot:
    """One connection's place in its Gate (serve_connection's Phase)."""

    __slots__ = ("gate", "sock", "task", "writer")

    def __init__(self, gate: Gate, sock: socket.socket) -> None:
        self.gate = gate
        self.sock = sock
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    def awaiting(self) -> None:
        # setdefault keeps the place of a slot already waiting: the longest wait goes first
        if self in self.gate.slots:
            self.gate.idle.setdefault(self, None)

    def busy(self) -> None:
        self.gate.idle.pop(self, None)


class Gate:
    """Accepts on every listening socket of one daemon's servers; at most `cap` connections.

    `tasks` holds every connection's task; close() stops accepting, cancels and awaits them.
    """

    def __init__(
        self, cap: int, log: LoggerLike, refusal: Callable[[], bytes], what: str = "HTTP"
    ) -> None:
        self.cap = cap
        self.log = log
        self.refusal = refusal  # the bytes a client gets when no room can be made
        self.what = what
        self.slots: dict[Slot, None] = {}
        self.idle: dict[Slot, None] = {}  # awaiting a request, the longest waiting first
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self._listening: dict[int, tuple[socket.socket, Serve]] = {}
        self._tls: dict[int, Any] = {}  # listening fd -> its ssl.SSLContext, or None
        self._retry: dict[int, asyncio.TimerHandle] = {}
        self._at_cap = False
        self._out_of_fds = False

    def listen(self, sock: socket.socket, serve: Serve, tls: Any = None) -> None:
        """Accept on sock; `tls` (an ssl.SSLContext) makes its connections HTTPS."""
        loop = asyncio.get_running_loop()
        self._tls[sock.fileno()] = tls
        self._listening[sock.fileno()] = (sock, serve)
        loop.add_reader(sock.fileno(), self._accept, sock, serve)

    async def close(self) -> None:
        self.closing = True
        loop = asyncio.get_running_loop()
        for fd in self._listening:
            loop.remove_reader(fd)
        self._listening.clear()
        for handle in self._retry.values():
            handle.cancel()
        self._retry.clear()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- accepting ------------------------------------------------------------------------

    def _accept(self, sock: socket.socket, serve: Serve) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                self._caught_up()
                return
            except ConnectionAbortedError:
                continue  # the client gave up while waiting in the backlog
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._out_of(sock, serve, exc)
                else:
                    self.log.warn(f"{self.what} server: accept() failed: {exc}")
                return
            self._admit(conn, serve, self._tls.get(sock.fileno()))

    def _out_of(self, sock: socket.socket, serve: Serve, exc: OSError) -> None:
        """accept() found no fd. Linux checks for a free fd before it looks at the backlog,
        so this says nothing about a client waiting: ask the socket. If one waits, free an
        fd by closing the longest idle connection, or else stop watching the socket (it
        stays readable: a busy loop otherwise) and try again in a while."""
        if not _readable(sock):
            self._caught_up()
            return  # nobody waits; the next client makes the socket readable again
        if not self._out_of_fds:
            self._out_of_fds = True
            self.log.warn(
                f"{self.what} server: accept() failed ({exc.strerror}): new connections wait"
                f" until a file descriptor is free ({len(self.slots)} open)"
            )
        loop = asyncio.get_running_loop()
        fd = sock.fileno()
        loop.remove_reader(fd)
        delay = _RETRY_AFTER_EVICTING if self._evict_one() else _RETRY_OUT_OF_FDS
        self._retry[fd] = loop.call_later(delay, self._resume, sock, serve)

    def _caught_up(self) -> None:
        if self._out_of_fds:  # every waiting client is in: the episode is over
            self._out_of_fds = False
            self.log.info(f"{self.what} server: accepting connections again")

    def _resume(self, sock: socket.socket, serve: Serve) -> None:
        fd = sock.fileno()
        self._retry.pop(fd, None)
        if self.closing or fd not in self._listening:
            return
        asyncio.get_running_loop().add_reader(fd, self._accept, sock, serve)
        self._accept(sock, serve)

    def _admit(self, conn: socket.socket, serve: Serve, tls: Any = None) -> None:
        if self.closing:
            conn.close()
            return
        if len(self.slots) >= self.cap:
            if not self._at_cap:
                self._at_cap = True
                self.log.warn(
                    f"{self.what} server: {self.cap} connections open (the limit): closing "
                    "the longest idle to make room for new ones"
                )
            if not self._evict_one():
                self._refuse(conn)
                return
        conn.setblocking(False)
        slot = Slot(self, conn)
        self.slots[slot] = None
        self.idle[slot] = None  # nothing asked yet: as evictable as a keep-alive connection
        task = asyncio.get_running_loop().create_task(self._run(slot, serve, tls))
        slot.task = task
        self.tasks.add(task)
        task.add_done_callback(lambda _: self._forget(slot))

    def _refuse(self, conn: socket.socket) -> None:
        """Every connection is busy with a request: answer 503 and close, never block.
        What the client already sent is read first: closing over unread data would reset
        the connection, and the client might never see the answer."""
        try:
            conn.setblocking(False)
            for _ in range(4):
                if not conn.recv(_READ):
                    break
        except OSError:
            pass
        try:
            conn.send(self.refusal())
        except OSError:
            pass
        finally:
            conn.close()

    def _evict_one(self) -> bool:
        slot = next(iter(self.idle), None)
        if slot is None:
            return False
        self._drop(slot)
        assert slot.task is not None
        slot.task.cancel()  # serve_connection aborts the transport
        return True

    async def _run(self, slot: Slot, serve: Serve, tls: Any = None) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**16, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        if tls is None:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, slot.sock)
        else:
            try:
                transport, _ = await loop.connect_accepted_socket(
                    lambda: protocol, slot.sock, ssl=tls, ssl_handshake_timeout=_HANDSHAKE
                )
            except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
                # no certificate, a wrong one, plain HTTP to an HTTPS port: that client only
                self.log.debug(f"{self.what} server: TLS handshake failed: {exc}")
                slot.sock.close()
                return
        slot.writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await serve(reader, slot.writer, slot)

    def _drop(self, slot: Slot) -> None:
        self.slots.pop(slot, None)
        self.idle.pop(slot, None)
        if self._at_cap and len(self.slots) < self.cap * 3 // 4:
            self._at_cap = False  # the next time the cap is reached is worth a line again

    def _forget(self, slot: Slot) -> None:
        self._drop(slot)
        assert slot.task is not None
        self.tasks.discard(slot.task)
        if slot.writer is None:
            # cancelled before a transport took the socket over (or while it did: closing
            # twice is harmless)
            slot.sock.close()
