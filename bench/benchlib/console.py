"""The console scenario (issue 10): 20 chatty writers through corrald's console, read from a
pipe as `docker logs` reads it, against supervisord writing the same bytes to log files
(it has no console; this is what its images do instead).

The daemon's CPU per MB is the figure; every line is checked to have arrived once, whole,
with its prefix (corral) or in its file (supervisord).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from . import procstat, streams
from .daemon import PROGRAMS, Daemon, program, write_config
from .scenarios import CHATTY_BYTES, CHATTY_N, MB, Metrics, Params, _fresh, _rotated, _size, _wait
from .systems import System


def _reader(pipe: object, sink: bytearray, done: threading.Event) -> None:
    """docker's end of the pipe: large reads, so the reader is never what the daemon waits
    for (a slow reader makes corral hold the programs, which is another measurement)."""
    fd = pipe.fileno()  # type: ignore[attr-defined]
    while chunk := os.read(fd, 1 << 20):
        sink += chunk
    done.set()


def _verify_console(data: bytes) -> tuple[bool, str]:
    """Every chatty line of every writer there once, whole, behind its writer's prefix."""
    width = max(len(f"chatty_{i:02d}") for i in range(CHATTY_N))
    width = max(width, len("corrald"))
    expected = {
        f"chatty_{i:02d}": streams.chatty_lines(CHATTY_BYTES, f"c{i:02d}") for i in range(CHATTY_N)
    }
    for raw in data.split(b"\n")[:-1]:
        name, sep, body = raw.partition(b" | ")
        name = name.rstrip()
        if not sep or len(raw) - len(body) - 3 != width:
            return False, f"a line without a prefix: {raw[:80]!r}"
        lines = expected.get(name.decode())
        if lines is None:
            continue  # corrald's own lines
        want = next(lines, None)
        if want is None or body + b"\n" != want:
            return False, f"{name.decode()}: {body[:60]!r} is not {want and want[:60]!r}"
    for name, lines in expected.items():
        if next(lines, None) is not None:
            return False, f"{name}: lines missing"
    return True, ""


def console(system: System, workdir: str, p: Params) -> Metrics:
    if system.name == "corral-before":
        return {}  # a tree from before the console: it would wait out the timeout
    _fresh(workdir)
    is_corral = system.name != "supervisord"
    common: dict[str, object] = {"autostart": "false", "autorestart": "false", "startsecs": 0}
    logs = [os.path.join(workdir, f"chatty_{i:02d}.log") for i in range(CHATTY_N)]
    if is_corral:
        opts = {**common, "stdout_logfile": "NONE"}
    else:
        opts = {
            **common,
            "stdout_logfile": os.path.join(workdir, "chatty_%(process_num)02d.log"),
            "stdout_logfile_maxbytes": "50MB",
            "stdout_logfile_backups": 3,
        }
    chatty = os.path.join(PROGRAMS, "chatty.py")
    progs = [
        program(
            "chatty",
            f"{sys.executable} {chatty} {CHATTY_BYTES} c%(process_num)02d",
            numprocs=CHATTY_N,
            process_name="%(program_name)s_%(process_num)02d",
            **opts,
        ),
        # the floor beside it: the same writers, read and thrown away by the same daemon
        program(
            "discard",
            f"{sys.executable} {chatty} {CHATTY_BYTES} d%(process_num)02d",
            numprocs=CHATTY_N,
            process_name="%(program_name)s_%(process_num)02d",
            stdout_logfile="NONE",
            **({"console": "false"} if is_corral else {}),
            **common,
        ),
    ]
    conf = write_config(workdir, progs)
    if is_corral:
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("[supervisord]\n", "[supervisord]\nconsole=true\n", 1))
    d = Daemon(system, workdir, conf)
    got = bytearray()
    ended = threading.Event()
    d.start(stdout=subprocess.PIPE if is_corral else subprocess.DEVNULL)
    reader = None
    if is_corral:
        assert d.proc is not None
        reader = threading.Thread(target=_reader, args=(d.proc.stdout, got, ended), daemon=True)
        reader.start()
    out: Metrics = {}
    total = CHATTY_N * (CHATTY_BYTES // streams.LINE) * streams.LINE
    try:
        d.wait_rpc()
        sup = d.rpc().supervisor
        cpu0 = procstat.cpu_ns(d.pid)
        t0 = time.perf_counter()
        sup.startProcessGroup("chatty", False)
        if is_corral:
            # each console line is 'chatty_NN | ' + the 100-byte line
            expect = total + CHATTY_N * (CHATTY_BYTES // streams.LINE) * (len("chatty_00") + 3)
            _wait(lambda: len(got) >= expect, 300)
        else:
            _wait(
                lambda: all(_size(f) >= CHATTY_BYTES // streams.LINE * streams.LINE for f in logs),
                300,
            )
        wall = time.perf_counter() - t0
        cpu = (procstat.cpu_ns(d.pid) - cpu0) / 1e9
        out["console.chatty.wall_s"] = wall
        out["console.chatty.cpu_s"] = cpu
        out["console.chatty.cpu_ms_per_mb"] = 1000 * cpu / (total / MB)
        cpu0 = procstat.cpu_ns(d.pid)
        sup.startProcessGroup("discard", False)

        def discarded() -> bool:
            infos = sup.getAllProcessInfo()
            return all(i["statename"] == "EXITED" for i in infos if i["group"] == "discard")

        _wait(discarded, 300)
        cpu = (procstat.cpu_ns(d.pid) - cpu0) / 1e9
        out["console.discard_floor.cpu_ms_per_mb"] = 1000 * cpu / (total / MB)
    finally:
        d.terminate_timed(30)
    if is_corral:
        ended.wait(30)
        ok, why = _verify_console(bytes(got))
    else:
        ok, why = True, ""
        for i, f in enumerate(logs):
            good, _, why = streams.verify_files(
                _rotated(f, 3), streams.chatty_lines(CHATTY_BYTES, f"c{i:02d}")
            )
            ok = ok and good
    if not ok:
        print(f"  [{system.name}] console verify FAILED: {why}", flush=True)
    out["console.chatty.bytes_ok"] = 1.0 if ok else 0.0
    return out
