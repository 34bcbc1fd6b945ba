"""Binding the HTTP servers' sockets, standard library only.

The daemon binds before it spawns anything (even before it daemonizes), so a socket already
served by another daemon is refused up front with a message on the terminal, and the web
server code is imported only after the programs are started.

    ServerError     a socket cannot be bound (worded as supervisord's usage errors)
"""

from __future__ import annotations

import errno
import os
import pwd
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from corral.config.model import Config, InetServerConfig, UnixServerConfig

ANOTHER_PROGRAM = (
    "Another program is already listening on a port that one of our HTTP servers is "
    "configured to use.  Shut this program down first before starting supervisord."
)
BACKLOG = 1024


class ServerError(Exception):
    """An HTTP server could not be started; str() is the message for the user."""


@dataclass
class Bound:
    sock: socket.socket
    url: str
    unix_file: tuple[str, int] | None  # (path, inode) of a socket file we own


def sections(config: Config) -> Iterator[UnixServerConfig | InetServerConfig]:
    yield from config.unix_servers
    yield from config.inet_servers


def bind_all(config: Config) -> list[Bound]:
    bound: list[Bound] = []
    try:
        for cfg in sections(config):
            if isinstance(cfg, UnixServerConfig):
                sock = bind_unix(cfg)
                unix = (cfg.file, os.stat(cfg.file).st_ino)
                bound.append(Bound(sock, f"unix://{cfg.file}", unix))
            else:
                sock = bind_inet(cfg)
                bound.append(Bound(sock, f"http://{cfg.host or 'localhost'}:{cfg.port}", None))
    except BaseException:
        release(bound)
        raise
    return bound


def release(bound: list[Bound]) -> None:
    for b in bound:
        b.sock.close()
        if b.unix_file is not None:
            _unlink_quietly(b.unix_file[0])


def _os_error(exc: OSError) -> ServerError:
    if exc.errno == errno.EADDRINUSE:
        return ServerError(ANOTHER_PROGRAM)
    help_ = "Cannot open an HTTP server: socket.error reported"
    name = errno.errorcode.get(exc.errno) if exc.errno is not None else None
    if name is None:
        return ServerError(f"{help_} {exc}")
    return ServerError(f"{help_} errno.{name} ({exc.errno})")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _answers(path: str) -> bool:
    """Whether a live server listens on the unix socket at path (else it is stale)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def bind_unix(cfg: UnixServerConfig) -> socket.socket:
    """Bind `<file>.<pid>`, chmod it, then hard-link it to `<file>`: the socket appears
    with its final mode. An existing file is replaced only if nobody answers on it."""
    path = cfg.file
    temp = f"{path}.{os.getpid()}"
    try:
        while True:
            _unlink_quietly(temp)  # a leftover of ours, or of the previous attempt
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(temp)
                os.chmod(temp, cfg.chmod)
                try:
                    os.link(temp, path)
                except FileExistsError:
                    if _answers(path):
                        raise ServerError(ANOTHER_PROGRAM) from None
                    sys.stderr.write(f"Unlinking stale socket {path}\n")
                    _unlink_quietly(path)
                    sock.close()
                    continue
                if cfg.chown is not None:
                    _chown(path, cfg.chown)
                # listening from now on: clients that come early wait in the backlog
                sock.listen(BACKLOG)
                sock.setblocking(False)
                return sock
            except OSError as exc:
                sock.close()
                raise _os_error(exc) from None
            except BaseException:
                sock.close()
                raise
    finally:
        _unlink_quietly(temp)


def _chown(path: str, owner: tuple[int, int]) -> None:
    try:
        os.chown(path, owner[0], owner[1])
    except PermissionError:
        _unlink_quietly(path)
        user = pwd.getpwuid(os.geteuid()).pw_name
        raise ServerError(
            f'Not permitted to chown {path} to uid/gid {owner!r}; adjust "sockchown" value '
            "in config file or on command line to values that the current user "
            f"({user}) can successfully chown"
        ) from None


def bind_inet(cfg: InetServerConfig) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((cfg.host, cfg.port))
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise _os_error(exc) from None
    return sock
