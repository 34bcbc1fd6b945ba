"""Child logs through a real daemon: AUTO, NONE, redirect_stderr, rotation, reopen, no loss."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from tests.support import wait_until

PY = sys.executable
FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"


def expected_flood(total: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < total:
        out += f"{i:012d} the quick brown fox jumps over the lazy dog\n".encode()
        i += 1
    return bytes(out[:total])


def joined(path: Path, backups: int) -> bytes:
    parts = [Path(f"{path}.{n}") for n in range(backups, 0, -1)] + [path]
    return b"".join(p.read_bytes() for p in parts if p.exists())


def test_auto_logs_live_in_childlogdir_and_are_mode_0600(daemon, tmp_path):
    d = daemon("""
[program:auto]
command=/bin/sh -c "echo out && echo err >&2 && exec sleep 100"
startsecs=0
""")
    info = d.wait_state("auto", "RUNNING")
    out, err = Path(info["stdout_logfile"]), Path(info["stderr_logfile"])
    assert out.parent == tmp_path and err.parent == tmp_path
    assert out.name.startswith("auto-stdout---supervisor-") and out.name.endswith(".log")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    wait_until(
        lambda: out.read_text() == "out\n" and err.read_text() == "err\n",
        what="both channels logged",
    )


def test_none_log_and_redirect_stderr(daemon, tmp_path):
    log = tmp_path / "both.log"
    d = daemon(f"""
[program:both]
command=/bin/sh -c "echo out && echo err >&2 && exec sleep 100"
startsecs=0
redirect_stderr=true
stdout_logfile={log}

[program:silent]
command=/bin/sh -c "echo lost && exec sleep 100"
startsecs=0
stdout_logfile=NONE
""")
    both = d.wait_state("both", "RUNNING")
    assert both["stderr_logfile"] == ""
    wait_until(lambda: sorted(log.read_text().split()) == ["err", "out"], what="merged log")
    silent = d.wait_state("silent", "RUNNING")
    assert silent["stdout_logfile"] == ""


def test_rotation_keeps_every_byte_in_order(daemon, tmp_path):
    log = tmp_path / "flood.log"
    total = 3 * 1024 * 1024 + 12345
    d = daemon(f"""
[program:flood]
command={PY} {FIX}/flood.py {total}
startsecs=0
autorestart=false
stdout_logfile={log}
stdout_logfile_maxbytes=256KB
stdout_logfile_backups=20
""")
    d.wait_state("flood", "EXITED", timeout=30)
    assert joined(log, 20) == expected_flood(total)
    backups = [Path(f"{log}.{n}") for n in range(1, 21) if Path(f"{log}.{n}").exists()]
    assert len(backups) >= 8
    # a file passes maxbytes by at most one read (128 KiB)
    assert all(256 * 1024 <= b.stat().st_size <= 256 * 1024 + 128 * 1024 for b in backups)


def test_backups_are_capped(daemon, tmp_path):
    log = tmp_path / "cap.log"
    d = daemon(f"""
[program:cap]
command={PY} {FIX}/flood.py {1024 * 1024}
startsecs=0
autorestart=false
stdout_logfile={log}
stdout_logfile_maxbytes=64KB
stdout_logfile_backups=3
""")
    d.wait_state("cap", "EXITED", timeout=30)
    assert Path(f"{log}.3").exists()
    assert not Path(f"{log}.4").exists()


def test_dev_stdout_target_with_maxbytes_does_not_fail(daemon, tmp_path):
    d = daemon("""
[program:console]
command=/bin/sh -c "echo to-console && exec sleep 100"
startsecs=0
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=1MB
""")
    d.wait_state("console", "RUNNING")
    # the daemon's stdout is /dev/null here; what matters is no seek error and no crash
    assert "Illegal seek" not in d.log()
    assert d.info("console")["statename"] == "RUNNING"


def test_sigusr2_reopens_logs_for_logrotate(daemon, tmp_path):
    log = tmp_path / "ticker.log"
    d = daemon(f"""
[program:ticker]
command={PY} {FIX}/counter.py
startsecs=0
stdout_logfile={log}
""")
    d.wait_state("ticker", "RUNNING")
    wait_until(lambda: log.exists() and log.stat().st_size > 0, what="first output")
    os.rename(log, tmp_path / "ticker.log.old")
    d.signal(signal.SIGUSR2)
    wait_until(lambda: log.exists() and log.stat().st_size > 0, what="new log file")
    d.wait_log("received SIGUSR2 indicating log reopen request")
    old = (tmp_path / "ticker.log.old").read_text().split()
    new = log.read_text().split()
    # nothing lost across the switch: the numbers continue
    assert int(new[0]) <= int(old[-1]) + 1


def test_main_log_line_format(daemon):
    d = daemon("""
[program:x]
command=/bin/sleep 100
startsecs=0
""")
    d.wait_state("x", "RUNNING")
    import re

    line = next(ln for ln in d.log().splitlines() if "spawned: 'x'" in ln)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO spawned: 'x' with pid \d+", line
    )


def test_output_of_a_dying_child_is_all_logged_before_exit_is_reported(daemon, tmp_path):
    log = tmp_path / "last.log"
    total = 500_000
    d = daemon(f"""
[program:last]
command={PY} {FIX}/flood.py {total}
startsecs=0
autorestart=false
stdout_logfile={log}
""")
    d.wait_state("last", "EXITED", timeout=30)
    # by the time the state says EXITED, every byte is in the file
    assert log.stat().st_size == total
