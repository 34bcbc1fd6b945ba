"""Going to the background: fork, new session, and a pipe back to the parent so the shell
that started us learns whether start-up worked (exit 0) or not (the error, exit 2)."""

from __future__ import annotations

import os
import sys


class Daemonizer:
    def __init__(self) -> None:
        self._write_fd: int | None = None

    def fork(self, directory: str | None, umask: int) -> None:
        """Returns in the daemon; the parent waits for the verdict and exits."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid:
            os.close(write_fd)
            chunks = []
            while chunk := os.read(read_fd, 65536):
                chunks.append(chunk)
            verdict = b"".join(chunks).decode("utf-8", "replace")
            if verdict == "ok":
                os._exit(0)
            sys.stderr.write(verdict or "Error: corrald exited during start-up\n")
            os._exit(2)
        os.close(read_fd)
        self._write_fd = write_fd
        os.setsid()
        if directory:
            os.chdir(directory)
        os.umask(umask)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)

    def _say(self, text: str) -> None:
        if self._write_fd is None:
            return
        try:
            os.write(self._write_fd, text.encode())
        finally:
            os.close(self._write_fd)
            self._write_fd = None

    def ready(self) -> None:
        self._say("ok")

    def failed(self, message: str) -> None:
        self._say(message)
