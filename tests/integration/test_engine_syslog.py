"""Logging to syslog: `logfile=syslog` for the main log, `*_syslog=true` for a child's output.

This machine has no syslog daemon, so the test makes one: in a private mount namespace /dev is
a fresh tmpfs (the host's /dev is untouched), and a catcher binds /dev/log there, runs corrald
and keeps every datagram it gets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import env_for_children

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "programs"
# glibc's syslog(3) datagram: <priority>timestamp ident: message
DATAGRAM = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d ([^:\[]+)(?:\[\d+\])?: (.*)$", re.S)
USER = 1 << 3  # LOG_USER facility: priority = facility | severity


def can_unshare_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_unshare_mounts(), reason="needs unshare and mount namespaces")
def test_main_log_and_child_output_go_to_syslog(tmp_path: Path) -> None:
    conf = tmp_path / "c.conf"
    conf.write_text(
        textwrap.dedent(f"""\
        [supervisord]
        logfile=syslog
        pidfile={tmp_path}/corrald.pid
        childlogdir={tmp_path}
        nodaemon=true

        [program:talker]
        command=/bin/sh -c "echo hello-out; echo hello-err >&2; printf tail-no-newline; sleep 100"
        startsecs=0
        stdout_syslog=true
        stderr_syslog=true
        stdout_logfile={tmp_path}/talker.log

        [program:crasher]
        command=/bin/sh -c "exit 3"
        startsecs=0
        autorestart=false
        """)
    )
    out = tmp_path / "got.json"
    inner = textwrap.dedent(f"""\
        set -e
        mkdir -p {tmp_path}/hostdev
        mount --bind /dev {tmp_path}/hostdev
        mount -t tmpfs -o mode=755 tmpfs /dev
        for n in null zero random urandom full; do
            touch /dev/$n; mount --bind {tmp_path}/hostdev/$n /dev/$n
        done
        ln -s /proc/self/fd /dev/fd
        exec {sys.executable} {FIX}/syslog_catcher.py {out} {conf} 'exited: crasher'
        """)
    run = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
        env=env_for_children(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    messages = []
    for datagram in json.loads(out.read_text()):
        m = DATAGRAM.match(datagram)
        assert m, datagram
        messages.append((int(m.group(1)), m.group(2), m.group(3)))
    assert {ident for _, ident, _ in messages} == {"corrald"}
    by_text = {text: priority for priority, _, text in messages}

    # A child's lines: `<process_name> <line>`, at LOG_INFO, each channel, and the last
    # unterminated line once the child is stopped.
    for line in ("talker hello-out", "talker hello-err", "talker tail-no-newline"):
        assert by_text.get(line) == USER | 6, (line, messages)
    # with stdout_logfile set too, the file still gets the bytes
    assert (tmp_path / "talker.log").read_bytes().startswith(b"hello-out\n")

    # Main log lines: the level code and the message, no time stamp of our own, at the
    # priority of their level.
    main = [t for t in by_text if t[:5] in ("CRIT ", "ERRO ", "WARN ", "INFO ")]
    assert len(main) >= 5
    assert not [t for t in main if re.match(r"\w{4} \d{4}-\d\d-\d\d ", t)]
    assert all(by_text[t] == USER | 2 for t in main if t.startswith("CRIT "))
    spawned = [t for t in by_text if t.startswith("INFO spawned: 'talker' with pid ")]
    assert spawned and by_text[spawned[0]] == USER | 6
    exited = [t for t in by_text if t.startswith("WARN exited: crasher (exit status 3")]
    assert exited and by_text[exited[0]] == USER | 4
    assert by_text.get("WARN received SIGTERM indicating exit request") == USER | 4
