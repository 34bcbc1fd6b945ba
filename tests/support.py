"""Test support: run a real corrald in a temp dir and talk to it over its real unix socket."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import psutil
import pytest

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


def missing_test_extra(what: str) -> NoReturn:
    """Fail, never skip, when a declared test dependency is absent: a skipped compatibility
    test would read as a pass on a machine that cannot run it."""
    pytest.fail(
        f"{what} is not installed, and the tests need it (a declared test extra); "
        "run: python3 -m pip install -e '.[test]'",
        pytrace=False,
    )


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the loop would sleep, and then straight to
    its next timer: delays, backoffs and timeouts run exact and at once, however loaded the
    machine (an injectable clock for code that takes its loop's time). For code that does no
    real I/O: a loop left with nothing to wait for but I/O is a deadlock, and raises."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        selector = self._selector  # type: ignore[attr-defined]
        real_select = selector.select

        def select(timeout: float | None = None) -> Any:
            if timeout is None:
                raise RuntimeError("nothing scheduled: the loop would wait forever")
            self._now += max(timeout, 0.0)
            return real_select(0)

        selector.select = select

    def time(self) -> float:
        return self._now


T = TypeVar("T")


def run_in_virtual_time(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)` on a VirtualClockLoop."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl(*args: str, cwd: Path) -> None:
    """The openssl command (Debian's openssl package): how the tests make certificates."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command (Debian's openssl) is needed to make test certificates")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def self_signed(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, made in d."""
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", "self.key", "-out", "self.pem", cwd=d,
    )  # fmt: skip
    return d / "self.pem", d / "self.key"


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


def signal_disposition(pid: int, sig: int) -> str:
    """'caught', 'ignored' or 'default': what process `pid` does with `sig` right now.

    A test that stops a program which traps or ignores a signal must wait for this first: a
    signal sent before the shell has run its `trap` line takes the default action."""
    bit = 1 << (sig - 1)
    masks: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("SigCgt", "SigIgn"):
                    masks[key] = int(value, 16)
    except FileNotFoundError:
        return "gone"
    if masks.get("SigCgt", 0) & bit:
        return "caught"
    if masks.get("SigIgn", 0) & bit:
        return "ignored"
    return "default"


def wait_signal_handled(pid: int, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
    """Wait until `pid` catches or ignores `sig` (its trap or handler is installed)."""
    return wait_until(
        lambda: (how := signal_disposition(pid, sig)) in ("caught", "ignored") and how,
        timeout=timeout,
        interval=0.005,
        what=f"pid {pid} to handle {signal.Signals(sig).name}",
    )


def wait_quiet(pid: int, quiet: float = 0.5, timeout: float = 20.0) -> int:
    """Wait until `pid` has not been woken (no voluntary context switch) for `quiet` seconds,
    and return its count of voluntary switches then.

    What an idle-cost test measures starts here rather than after a fixed sleep: on a loaded
    machine a daemon can still be finishing the work of the last request long after it was
    answered. A daemon that polls never goes quiet, and the wait fails."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    last = proc.num_ctx_switches().voluntary
    while True:
        time.sleep(quiet)
        now = proc.num_ctx_switches().voluntary
        if now == last:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} never stayed asleep for {quiet}s in {timeout}s")
        last = now


def session_processes(sid: int) -> list[int]:
    """The pids still alive in session `sid` (a test daemon's session: it and its children)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the fields after the command name, which is in parentheses and may hold spaces
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def kill_session(sid: int) -> list[int]:
    """SIGKILL every process left in session `sid`; the pids that were found."""
    left = session_processes(sid)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


# Every Daemon started by a test, so that the suite's conftest can clean up after it.
STARTED: list[Daemon] = []


def autostarted(rpc: Any) -> bool:
    """Has the daemon behind `rpc` started every autostart process (none still STOPPED)?
    True as well once it refuses or is gone (going away is no start-up to wait for)."""
    try:
        auto = {
            (c["group"], c["name"]) for c in rpc.supervisor.getAllConfigInfo() if c["autostart"]
        }
        infos = rpc.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError, http.client.HTTPException):
        return True
    return all(i["statename"] != "STOPPED" for i in infos if (i["group"], i["name"]) in auto)


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

    def start(self, *args: str, wait: bool = True, stdout: Any = subprocess.DEVNULL) -> Daemon:
        """`stdout`: where corrald's own stdout goes (a file, or PIPE: then `proc.stdout`)."""
        with open(self.tmp / "corrald.stderr", "wb") as errfile:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(self.conf), *args],
                env=env_for_children(),
                stdout=stdout,
                stderr=errfile,
                # its own session: whatever it leaves behind can be found and ended
                start_new_session=True,
            )
        STARTED.append(self)
        if wait:
            wait_until(self._answers, timeout=15, what="corrald to answer")
            # the control socket answers while programs start: wait for autostart too, so a
            # test starts from the state a user sees once start-up is done
            wait_until(lambda: autostarted(self.rpc), timeout=60, what="autostart")
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

    def cleanup(self) -> None:
        """After the test: the daemon ended (killed if it will not stop) and nothing it
        started left running, whatever the test did to it."""
        if self.proc is None:
            return
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        kill_session(self.proc.pid)


def run_corrald(*args: str) -> subprocess.CompletedProcess[str]:
    """corrald run to completion (usage errors, refused configs, daemonizing parents)."""
    return subprocess.run(
        [sys.executable, "-m", "corral.daemon.main", *args],
        capture_output=True,
        text=True,
        env=env_for_children(),
        timeout=30,
    )
