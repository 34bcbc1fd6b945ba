"""corrald out of file descriptors: a low RLIMIT_NOFILE, a hundred idle clients, and more
programs than its fds can hold. It refuses the spawns it must (a spawn error, the last fds
kept for control connections), keeps its running programs and their logs whole, still
answers a new client, and starts the refused programs once the fds are back."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

from tests.support import Daemon, env_for_children, wait_until

NOFILE = 128
WRITER = """
import os, sys, time
name = sys.argv[1]
for i in range(10**9):
    os.write(1, f"{name} out {i:08d}\\n".encode())
    os.write(2, f"{name} err {i:08d}\\n".encode())
    time.sleep(0.002)
"""


def low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    os.setsid()


def _config(tmp: Path) -> str:
    writer = tmp / "writer.py"
    writer.write_text(WRITER)
    return (
        f"[program:writer]\ncommand={sys.executable} {writer} w%(process_num)d\nnumprocs=4\n"
        "process_name=w%(process_num)d\nstartsecs=0\n"
        f"stdout_logfile={tmp}/w%(process_num)d.out\nstderr_logfile={tmp}/w%(process_num)d.err\n"
        "stdout_logfile_maxbytes=0\nstderr_logfile_maxbytes=0\n\n"
        "[program:extra]\ncommand=sleep 1000\nnumprocs=40\nprocess_name=x%(process_num)02d\n"
        "autostart=false\nstartsecs=0\nstartretries=0\n"
        f"stdout_logfile={tmp}/x%(process_num)02d.out\nstderr_logfile={tmp}/x%(process_num)02d.err\n"
    )


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _contiguous(path: Path, name: str) -> int:
    """The number of lines in path, failing unless they are name's lines 0..n-1 in order."""
    lines = path.read_bytes().splitlines()
    for n, line in enumerate(lines):
        assert line == f"{name} {n:08d}".encode(), f"{path.name}: line {n} is {line[:40]!r}"
    return len(lines)


def test_out_of_fds_it_refuses_spawns_keeps_its_programs_and_recovers(tmp_path: Path) -> None:
    d = Daemon(tmp_path, _config(tmp_path), supervisord="minfds=64")
    d.proc = subprocess.Popen(
        [sys.executable, "-m", "corral.daemon.main", "-n", "-c", str(d.conf)],
        env=env_for_children(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=low_nofile,
    )
    idle: list[socket.socket] = []
    try:
        wait_until(d._answers, timeout=15, what="corrald to answer")
        for n in range(4):
            d.wait_state(f"writer:w{n}", "RUNNING")
        pid = d.proc.pid
        writers = {i["name"]: i["pid"] for i in d.rpc.supervisor.getAllProcessInfo()}
        baseline = _fds(pid)

        # a hundred clients that connect and say nothing: more than the connection cap
        for _ in range(100):
            s = socket.socket(socket.AF_UNIX)
            s.connect(d.sock)
            idle.append(s)
        assert d.rpc.supervisor.getState()["statename"] == "RUNNING"  # room was made
        assert _fds(pid) < NOFILE

        # forty more programs than the fds allow: some start, the rest are refused
        d.rpc.supervisor.startProcessGroup("extra", False)

        def settled() -> list[dict[str, object]] | None:
            infos = [i for i in d.rpc.supervisor.getAllProcessInfo() if i["group"] == "extra"]
            done = all(i["statename"] in ("RUNNING", "FATAL") for i in infos)
            return infos if done else None

        infos = wait_until(settled, timeout=60, what="every extra RUNNING or FATAL")
        running = [i["name"] for i in infos if i["statename"] == "RUNNING"]
        refused = [i for i in infos if i["statename"] == "FATAL"]
        assert 0 < len(running) < 40 and refused, f"{len(running)} of 40 started"
        assert all("too many open files" in str(i["spawnerr"]) for i in refused), refused[0]
        assert "too many open files to spawn" in d.log()
        # a new client still gets in (the reserve), and the daemon holds no fd past its limit
        assert d.rpc.supervisor.getState()["statename"] == "RUNNING"
        assert _fds(pid) <= NOFILE
        # the writers ran on: same pids, still RUNNING
        now = {i["name"]: i for i in d.rpc.supervisor.getAllProcessInfo()}
        for name, before in writers.items():
            if name.startswith("w"):
                assert now[name]["statename"] == "RUNNING" and now[name]["pid"] == before

        # the clients leave and the extras stop: the fds come back, the refused ones start
        for s in idle:
            s.close()
        idle.clear()
        d.rpc.supervisor.stopProcessGroup("extra")
        # the stopped extras keep their log files open (as 4.3 does); the refused hold none
        wait_until(
            lambda: _fds(pid) <= baseline + 2 * len(running) + 4,
            timeout=20,
            what=f"fds back near {baseline} + the stopped extras' logs",
        )
        for i in refused[:5]:
            d.rpc.supervisor.startProcess(f"extra:{i['name']}")
            d.wait_state(f"extra:{i['name']}", "RUNNING")

        # every writer line reached its log, once and in order
        for n in range(4):
            log = tmp_path / f"w{n}.out"
            wait_until(lambda log=log: log.stat().st_size > 500 * 16, what=f"{log.name} grows")
        d.rpc.supervisor.stopProcessGroup("writer")
        for n in range(4):
            out = _contiguous(tmp_path / f"w{n}.out", f"w{n} out")
            err = _contiguous(tmp_path / f"w{n}.err", f"w{n} err")
            assert out > 500 and abs(out - err) <= 1
        assert "Traceback" not in d.log()
    finally:
        for s in idle:
            s.close()
        d.stop()
