"""A process group: its processes in priority order, and the FastCGI socket they share."""

from __future__ import annotations

import contextlib
import os
import socket

from corral.config.model import FcgiSocketConfig, GroupConfig
from corral.runtime.process import Process


class FcgiSocketError(Exception):
    pass


def open_fcgi_socket(cfg: FcgiSocketConfig) -> socket.socket:
    """Bind and listen the way the config says; the socket becomes fd 0 of each child."""
    unix = cfg.family == "unix"
    sock = socket.socket(socket.AF_UNIX if unix else socket.AF_INET, socket.SOCK_STREAM)
    try:
        if unix:
            assert cfg.path is not None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(cfg.path)
            sock.bind(cfg.path)
            os.chmod(cfg.path, cfg.mode if cfg.mode is not None else 0o700)
            if cfg.owner is not None:
                os.chown(cfg.path, cfg.owner[0], cfg.owner[1])
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((cfg.host or "", cfg.port or 0))
        sock.listen(cfg.backlog if cfg.backlog is not None else socket.SOMAXCONN)
    except OSError as e:
        sock.close()
        raise FcgiSocketError(f"Could not create FastCGI socket {cfg.url}: {e}") from None
    return sock


def _order(p: Process) -> tuple[int, str]:
    return (p.config.priority, p.name)


class Group:
    def __init__(
        self,
        config: GroupConfig,
        processes: list[Process],
        fcgi_socket: socket.socket | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self.processes = sorted(processes, key=_order)
        self.fcgi_socket = fcgi_socket

    def sort(self) -> None:
        """Back in priority order after an update changed members or priorities."""
        self.processes.sort(key=_order)

    def add(self, proc: Process) -> None:
        self.processes.append(proc)
        self.sort()

    def remove(self, proc: Process) -> None:
        self.processes.remove(proc)

    def process(self, name: str) -> Process | None:
        for p in self.processes:
            if p.name == name:
                return p
        return None

    def close(self) -> None:
        for p in self.processes:
            p.close()
        if self.fcgi_socket is not None:
            self.fcgi_socket.close()
            self.fcgi_socket = None
