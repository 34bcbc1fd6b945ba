"""The seed's [program:app] (the platform's node.js file), unchanged but for its paths and
command: it starts, a kill -9 brings it back, its log rotates at 2MB keeping 5 backups and
loses nothing."""

from __future__ import annotations

import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path

from tests.support import wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"
# two runs write 14 MB: more than 5 backups of 2 MB hold, so the cap is exercised too
BURST = 7 * 1024 * 1024 + 777


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ask(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
            return int(r.read())
    except OSError:
        return None


def test_seed_program_app(daemon, tmp_path: Path) -> None:
    srv_app = tmp_path / "srv" / "app"
    srv_log = tmp_path / "srv" / "log"
    srv_app.mkdir(parents=True)
    srv_log.mkdir(parents=True)
    port = free_port()
    # The seed's section, with /srv pointed into tmp and npm start replaced by a small server.
    d = daemon(f"""
[program:app]
command={PY} {FIX}/seed_app.py
environment=PATH="/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games:/opt/node/bin",PORT="{port}",BURST="{BURST}"
directory={srv_app}
autostart=true
autorestart=true
stdout_logfile={srv_log}/node.log
stdout_logfile_maxbytes=2MB
stdout_logfile_backups=5
redirect_stderr=true
""")
    first = d.wait_state("app", "RUNNING")["pid"]
    assert wait_until(lambda: ask(port), what="the app answers") == first

    os.kill(first, signal.SIGKILL)
    second = wait_until(lambda: (p := ask(port)) not in (None, first) and p, what="app is back")
    assert d.info("app")["pid"] == second
    assert d.info("app")["statename"] in ("STARTING", "RUNNING")

    log = srv_log / "node.log"
    backups = [Path(f"{log}.{n}") for n in range(5, 0, -1)]
    wait_until(
        lambda: log.read_bytes().endswith(b"listening\n") and Path(f"{log}.1").exists(),
        what="second run logged",
    )
    assert all(b.exists() for b in backups)  # node.log.5 ... node.log.1
    assert not Path(f"{log}.6").exists()
    for b in backups:
        if b.exists():
            assert 2 * 1024 * 1024 <= b.stat().st_size <= 2 * 1024 * 1024 + 128 * 1024
    from tests.fixtures.programs.seed_app import burst_lines

    one_run = burst_lines(BURST) + b"listening\n"
    joined = b"".join(p.read_bytes() for p in [*backups, log] if p.exists())
    # only whole old files fell off the end: what is kept is exactly the last bytes written
    assert len(joined) >= 5 * 2 * 1024 * 1024
    assert joined == (one_run + one_run)[-len(joined) :]
