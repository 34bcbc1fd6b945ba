"""Test support: run a real corrald in a temp dir and talk to it over its real unix socket."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # registered in _connection so Transport.close() (called on errors) closes it
        self.close()
        conn = UnixHTTPConnection(self._path)
        self._connection = (host, conn)
        return conn


class OneShotRPC:
    """`rpc.supervisor.getState()` over a fresh connection that is closed after the call."""

    def __init__(self, sock_path: str, name: str = "") -> None:
        self._sock = sock_path
        self._name = name

    def __getattr__(self, part: str) -> OneShotRPC:
        return OneShotRPC(self._sock, f"{self._name}.{part}" if self._name else part)

    def __call__(self, *args: Any) -> Any:
        with xmlrpc.client.ServerProxy(
            "http://localhost/RPC2", transport=UnixTransport(self._sock)
        ) as proxy:
            return getattr(proxy, self._name)(*args)


def rpc_proxy(sock_path: str) -> Any:
    return OneShotRPC(sock_path)


def prog(name: str, command: str, **opts: object) -> str:
    """A [program:name] section for a test config."""
    lines = [f"[program:{name}]", f"command={command}"]
    lines += [f"{k}={v}" for k, v in opts.items()]
    return "\n".join(lines) + "\n\n"


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def env_for_children() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    return env


class Daemon:
    """A corrald in the foreground in `tmp`, config given as the program sections."""

    def __init__(
        self,
        tmp: Path,
        programs: str,
        *,
        supervisord: str = "",
        extra: str = "",
        loglevel: str = "info",
    ) -> None:
        self.tmp = tmp
        self.sock = str(tmp / "corral.sock")
        self.logfile = tmp / "corrald.log"
        self.conf = tmp / "corral.conf"
        # Substitute into lines that are already flush left: a multi-line `supervisord` or
        # `extra` inside an indented template would defeat dedent and leave every line
        # indented (read as continuation lines).
        head = "\n".join(
            [
                "[supervisord]",
                f"logfile={self.logfile}",
                f"pidfile={tmp / 'corrald.pid'}",
                f"childlogdir={tmp}",
                # info, as users run it: debug turns off the zero-copy log path
                f"loglevel={loglevel}",
                textwrap.dedent(supervisord).strip(),
                "",
                "[unix_http_server]",
                f"file={self.sock}",
                "",
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "",
                "[supervisorctl]",
                f"serverurl=unix://{self.sock}",
                "",
                textwrap.dedent(extra).strip(),
            ]
        )
        self.conf.write_text(head + "\n\n" + textwrap.dedent(programs))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str, wait: bool = True) -> Daemon:
        with open(self.tmp / "corrald.stderr", "wb") as errfile:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(self.conf), *args],
                env=env_for_children(),
                stdout=subprocess.DEVNULL,
                stderr=errfile,
            )
        if wait:
            wait_until(self._answers, timeout=15, what="corrald to answer")
        return self

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"corrald exited with {self.proc.returncode}: {self.stderr()}\n{self.log()}"
            )
        try:
            self.rpc.supervisor.getState()
            return True
        except OSError:
            return False

    @property
    def rpc(self) -> Any:
        return rpc_proxy(self.sock)

    def info(self, name: str) -> dict[str, Any]:
        info: dict[str, Any] = self.rpc.supervisor.getProcessInfo(name)
        return info

    def wait_state(self, name: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(
            lambda: (i := self.info(name))["statename"] == state and i,
            timeout=timeout,
            what=f"{name} to be {state}",
        )

    def log(self) -> str:
        return self.logfile.read_text() if self.logfile.exists() else ""

    def stderr(self) -> str:
        p = self.tmp / "corrald.stderr"
        return p.read_text() if p.exists() else ""

    def wait_log(self, text: str, timeout: float = 10.0) -> str:
        return wait_until(
            lambda: text in self.log() and self.log(),
            timeout=timeout,
            what=f"{text!r} in the main log",
        )

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def run_corrald(*args: str) -> subprocess.CompletedProcess[str]:
    """corrald run to completion (usage errors, refused configs, daemonizing parents)."""
    return subprocess.run(
        [sys.executable, "-m", "corral.daemon.main", *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )
