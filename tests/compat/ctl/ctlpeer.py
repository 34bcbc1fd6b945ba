"""Helpers for the ctl compat tests: a real Supervisor 4.3 supervisord, and both clients.

Every compat test runs supervisor's own `supervisorctl` and our `corralctl` against the same
daemon and compares what they print and how they exit.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[3] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from tests.support import kill_session, missing_test_extra  # noqa: E402

from corral.ctl.client import make_proxy  # noqa: E402

BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    # Prefer the interpreter's own bin dir: pyenv-style shims add ~100 ms a call.
    local = BIN / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        missing_test_extra(f"{name} (supervisor 4.3, the compatibility peer)")
    return found


RPC_SECTION = """
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
"""


@dataclass
class Daemon:
    """One running supervisord; `conf` is also the ctl config (it has [supervisorctl])."""

    dir: Path
    conf: Path
    sock: Path
    proc: subprocess.Popen[bytes]
    auth: tuple[str, str] | None = None
    _proxy: Any = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def rpc(self) -> Any:
        if self._proxy is None:
            user, password = self.auth or (None, None)
            self._proxy = make_proxy(self.url, user, password)
        return self._proxy.supervisor

    def close_rpc(self) -> None:
        if self._proxy is not None:
            self._proxy("close")()
            self._proxy = None

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.dir / "sd.stdout").read_text(errors="replace")
                raise RuntimeError(f"supervisord exited early: {log}")
            try:
                # RUNNING and done with autostart: both daemons answer before it ends
                if self.rpc().getState()["statename"] == "RUNNING" and self._autostarted():
                    return
            except (OSError, xmlrpc.client.Error):
                self.close_rpc()
            time.sleep(0.05)
        raise RuntimeError("supervisord did not come up")

    def _autostarted(self) -> bool:
        rpc = self.rpc()
        auto = {(c["group"], c["name"]) for c in rpc.getAllConfigInfo() if c["autostart"]}
        infos = rpc.getAllProcessInfo()
        return all(i["statename"] != "STOPPED" for i in infos if (i["group"], i["name"]) in auto)

    def stop(self) -> None:
        self.close_rpc()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # the daemon runs in its own session: end whatever it left behind
        kill_session(self.proc.pid)


def start_daemon(
    base: Path,
    programs: str,
    *,
    auth: tuple[str, str] | None = None,
    rpc: bool = True,
    corrald: bool = False,
) -> Daemon:
    base.mkdir(parents=True, exist_ok=True)
    (base / "inc").mkdir(exist_ok=True)
    sock = base / "sd.sock"
    creds = f"username={auth[0]}\npassword={auth[1]}\n" if auth else ""
    text = textwrap.dedent(
        f"""\
        [unix_http_server]
        file={sock}
        {{creds}}
        [supervisord]
        logfile={base}/supervisord.log
        pidfile={base}/supervisord.pid
        childlogdir={base}
        nodaemon=true
        loglevel=info

        [supervisorctl]
        serverurl=unix://{sock}

        [include]
        files={base}/inc/*.conf
        """
    ).replace("{creds}", creds)
    text += (RPC_SECTION if rpc else "") + textwrap.dedent(programs)
    conf = base / "supervisord.conf"
    conf.write_text(text)
    out = open(base / "sd.stdout", "wb")  # noqa: SIM115 - owned by the daemon's lifetime
    argv = (
        [sys.executable, "-m", "corral.daemon.main", "-c", str(conf)]
        if corrald
        else [_tool("supervisord"), "-c", str(conf)]
    )
    proc = subprocess.Popen(
        argv,
        env=_env(),
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=base,
        start_new_session=True,
    )
    out.close()
    daemon = Daemon(base, conf, sock, proc, auth)
    if rpc:
        daemon.wait_ready()
    else:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return daemon


@dataclass
class Run:
    out: str
    err: str
    rc: int


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.setdefault("LANG", "C.UTF-8")
    return env


def run_real(args: list[str], stdin: str | None = None, timeout: float = 30) -> Run:
    return _run([_tool("supervisorctl"), *args], stdin, timeout)


def run_ours(args: list[str], stdin: str | None = None, timeout: float = 30) -> Run:
    return _run([sys.executable, "-m", "corral.ctl.main", *args], stdin, timeout)


def _run(argv: list[str], stdin: str | None, timeout: float) -> Run:
    proc = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        start_new_session=True,  # no controlling tty: getpass falls back to stdin
    )
    return Run(proc.stdout, proc.stderr, proc.returncode)


# Things that legitimately differ between two runs a moment apart: uptimes tick.
_UPTIME = re.compile(r"uptime (\d+ days?, )?\d+:\d\d:\d\d")


def normalise(text: str) -> str:
    return _UPTIME.sub("uptime H:MM:SS", text)


def both(
    args: list[str],
    *,
    setup: Callable[[], None] | None = None,
    stdin: str | None = None,
) -> tuple[Run, Run]:
    """Run the real supervisorctl, then ours (calling `setup` before each)."""
    if setup:
        setup()
    real = run_real(args, stdin)
    if setup:
        setup()
    ours = run_ours(args, stdin)
    return real, ours


def assert_same(real: Run, ours: Run, *, stderr: bool = True) -> None:
    assert normalise(ours.out) == normalise(real.out)
    assert ours.rc == real.rc
    if stderr:
        assert ours.err == real.err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Says hello on both channels, then idles: something for tail to read.
APP_CODE = (
    "import sys,time; print('hello out'); print('hello err', file=sys.stderr); time.sleep(1000)"
)

MAIN_PROGRAMS = """
[program:app]
command={python} -u -c "{app}"
startsecs=0
stdout_logfile={base}/app.out
stderr_logfile={base}/app.err
stopwaitsecs=2

[program:quick]
command=sh -c "exit 3"
startsecs=10
startretries=0
autostart=false

[program:nolog]
command=sleep 1000
startsecs=0
autostart=false
stdout_logfile=NONE

[group:grp]
programs=g1,g2
priority=5

[program:g1]
command=sleep 1000
startsecs=0
priority=7

[program:g2]
command=sleep 1000
startsecs=0
autostart=false
"""
