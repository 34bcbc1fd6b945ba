"""Sinks that never block the loop: real pipes, fifos and children.

A target that cannot take bytes now makes the sink hold them (bounded) and the pump
stop reading, so the program blocks on its own pipe while the loop runs on."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corral.logs.capture import CHUNK, OutputPump
from corral.logs.mainlog import HELD_MAX, MainLog
from corral.logs.rotating import RotatingFile
from corral.logs.sink import CallbackSink, Dropped, Sink
from corral.logs.syslogsink import SyslogLines

PIPE_MAX = int(Path("/proc/sys/fs/pipe-max-size").read_text())  # what an outlet grows a pipe to
LINE = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]{4} [^\n]*\n")


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def pipe_nonblocking_reader() -> tuple[int, int]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    return r, w


def read_some(fd: int) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


async def read_until(fd: int, done: object, timeout: float = 20.0) -> bytes:
    """Read `fd` on the loop until `done(got)` is true."""
    loop = asyncio.get_running_loop()
    got = bytearray()
    finished = loop.create_future()

    def readable() -> None:
        got.extend(read_some(fd))
        if done(bytes(got)) and not finished.done():  # type: ignore[operator]
            finished.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await asyncio.wait_for(finished, timeout)
    finally:
        loop.remove_reader(fd)
    return bytes(got)


async def wait_for(predicate: object, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def blocked_in_write(pid: int) -> bool:
    """Is `pid` asleep in a write to a full pipe (pipe_write, anon_pipe_write)?"""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().endswith("pipe_write")
    except OSError:
        return False  # it has exited


def test_the_sinks_are_sinks() -> None:
    r, w = os.pipe()
    sinks: list[object] = [
        RotatingFile(fd_path(w), 0, 0),
        SyslogLines("x"),
        CallbackSink(lambda d: None),
    ]
    assert all(isinstance(s, Sink) for s in sinks)
    for s in sinks:
        s.close()  # type: ignore[attr-defined]
    os.close(r)
    os.close(w)


def test_a_full_pipe_holds_instead_of_blocking_and_loses_nothing() -> None:
    big = random.Random(1).randbytes(3 * 1024 * 1024)

    async def main() -> tuple[bytes, list[Dropped | None]]:
        r, w = pipe_nonblocking_reader()
        rf = RotatingFile(fd_path(w), maxbytes=1024, backups=2)
        assert not rf.is_regular
        started = time.monotonic()
        assert rf.write(big) is False  # far more than a pipe holds: the rest is held
        assert time.monotonic() - started < 1.0
        assert 0 < rf.pending < len(big)
        assert rf.write(b"and after") is False  # queued behind, in order
        resumed: list[Dropped | None] = []
        rf.when_writable(resumed.append)
        got = await read_until(r, lambda g: len(g) >= len(big) + 9)
        await wait_for(lambda: resumed, what="when_writable")
        assert rf.pending == 0
        rf.close()
        os.close(r)
        os.close(w)
        return got, resumed

    got, resumed = asyncio.run(main())
    assert got == big + b"and after"
    assert resumed == [None]


def test_writers_sharing_a_target_keep_their_order() -> None:
    async def main() -> bytes:
        r, w = pipe_nonblocking_reader()
        a = RotatingFile(fd_path(w), 0, 0)
        b = RotatingFile(f"/dev/fd/{w}", 0, 0)
        assert a.fileno() == b.fileno()  # one fd, one queue
        parts = [b"A" * 1_500_000, b"b1\n", b"A" * 70_000, b"b2\n"]
        a.write(parts[0])
        b.write(parts[1])
        a.write(parts[2])
        b.write(parts[3])
        assert b.pending == 6 and a.pending > 0
        got = await read_until(r, lambda g: g.endswith(b"b2\n"))
        a.close()
        b.close()
        os.close(r)
        os.close(w)
        return got

    assert asyncio.run(main()) == b"A" * 1_500_000 + b"b1\n" + b"A" * 70_000 + b"b2\n"


def test_a_reader_gone_for_good_drops_what_was_held_and_says_how_much() -> None:
    async def main() -> tuple[list[Dropped | None], int]:
        r, w = os.pipe()
        rf = RotatingFile(fd_path(w), 0, 0)
        rf.write(b"x" * 1_500_000)  # more than the (grown) pipe holds
        held = rf.pending
        told: list[Dropped | None] = []
        rf.when_writable(told.append)
        os.close(r)  # an anonymous pipe's reader never comes back
        await wait_for(lambda: told, what="the drop to be told")
        with pytest.raises(BrokenPipeError):
            rf.write(b"more")
        rf.close()
        os.close(w)
        return told, held

    told, held = asyncio.run(main())
    assert isinstance(told[0], Dropped)
    assert told[0].nbytes == held > 0
    assert isinstance(told[0].error, BrokenPipeError)


def test_a_fifo_without_a_reader_neither_blocks_open_nor_loses_bytes(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main() -> tuple[bytes, list[Dropped | None]]:
        started = time.monotonic()
        rf = RotatingFile(str(fifo), 0, 0, retry_interval=0.02)  # no reader: ENXIO
        assert time.monotonic() - started < 1.0
        assert rf.write(b"before any reader\n") is False
        resumed: list[Dropped | None] = []
        rf.when_writable(resumed.append)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        got = await read_until(reader, lambda g: g.endswith(b"reader\n"))
        await wait_for(lambda: resumed, what="when_writable")
        assert rf.write(b"then straight through\n") is True
        got += await read_until(reader, lambda g: g.endswith(b"through\n"))
        rf.close()
        os.close(reader)
        return got, resumed

    assert asyncio.run(main()) == (b"before any reader\nthen straight through\n", [None])


def test_reopen_of_a_fifo_whose_reader_left_returns_at_once(tmp_path: Path) -> None:
    # SIGUSR2 after the fifo's reader went away used to block forever in open().
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main() -> tuple[bytes, bytes]:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        rf = RotatingFile(str(fifo), 0, 0, retry_interval=0.02)
        rf.write(b"one\n")
        first = read_some(reader)
        os.close(reader)
        started = time.monotonic()
        rf.reopen()
        assert time.monotonic() - started < 1.0
        assert rf.write(b"two\n") is False  # held for the next reader
        await asyncio.sleep(0.1)  # retries find no reader meanwhile
        assert rf.pending == 4
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        second = await read_until(reader, lambda g: g == b"two\n")
        rf.close()
        os.close(reader)
        return first, second

    assert asyncio.run(main()) == (b"one\n", b"two\n")


def test_a_fifo_reader_leaving_mid_stream_is_waited_for(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    async def main() -> bytes:
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        rf = RotatingFile(str(fifo), 0, 0, retry_interval=0.02)
        assert rf.write(b"first\n") is True
        assert read_some(reader) == b"first\n"
        os.close(reader)
        assert rf.write(b"while nobody reads\n") is False  # EPIPE: held, not lost
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        got = await read_until(reader, lambda g: g.endswith(b"reads\n"))
        rf.close()
        os.close(reader)
        return got

    assert asyncio.run(main()) == b"while nobody reads\n"


NUMBERED = "import os\nfor i in range({n}):\n    os.write(1, b'%07d %s\\n' % (i, b'x' * 56))\n"


def test_a_held_sink_back_pressures_the_child_not_the_loop() -> None:
    n = 60_000  # 3.8 MB: more than the child's pipe, the grown pipe and a held read
    expected = b"".join(b"%07d %s\n" % (i, b"x" * 56) for i in range(n))

    async def main() -> tuple[bytes, int, int]:
        loop = asyncio.get_running_loop()
        r, w = pipe_nonblocking_reader()
        sink = RotatingFile(fd_path(w), 0, 0)
        child_r, child_w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", NUMBERED.format(n=n)], stdout=child_w)
        os.close(child_w)
        ended = loop.create_future()
        pump = OutputPump(child_r, sink, on_eof=lambda: ended.set_result(None))
        pump.start()
        await wait_for(lambda: pump.held, what="the sink to hold")
        # the child fills its own pipe and blocks there
        await wait_for(
            lambda: blocked_in_write(proc.pid),
            what="the child to block in write",
        )
        held = sink.pending
        ticks = 0
        for _ in range(5):  # the loop runs on meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        assert proc.poll() is None and pump.held
        got = await read_until(r, lambda g: len(g) >= len(expected), timeout=60)
        await asyncio.wait_for(ended, 20)
        code = await loop.run_in_executor(None, proc.wait)
        sink.close()
        os.close(r)
        os.close(w)
        assert code == 0 and ticks == 5
        return got, held, pump.spliced

    got, held, spliced = asyncio.run(main())
    assert got == expected
    assert 0 < held <= CHUNK  # one read's worth held, never more
    assert spliced == 0


def test_drain_at_exit_reads_one_pipe_more_while_held_then_the_rest_later() -> None:
    n = 60_000
    expected = b"".join(b"%07d %s\n" % (i, b"x" * 56) for i in range(n))

    async def main() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        r, w = pipe_nonblocking_reader()
        sink = RotatingFile(fd_path(w), 0, 0)
        child_r, child_w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", NUMBERED.format(n=n)], stdout=child_w)
        os.close(child_w)
        ended = loop.create_future()
        pump = OutputPump(child_r, sink, on_eof=lambda: ended.set_result(None))
        pump.start()
        # held by the sink, not only between two reads of a busy pipe
        await wait_for(
            lambda: pump.held and blocked_in_write(proc.pid),
            what="the child to block in write",
        )
        pump.drain()  # what the reaper does at exit: bounded while the sink holds
        after_drain = sink.pending
        assert not pump.eof
        got = await read_until(r, lambda g: len(g) >= len(expected), timeout=60)
        await asyncio.wait_for(ended, 20)
        await loop.run_in_executor(None, proc.wait)
        sink.close()
        os.close(r)
        os.close(w)
        return got, after_drain

    got, after_drain = asyncio.run(main())
    assert got == expected
    assert after_drain <= 1024 * 1024 + 2 * CHUNK


def fds_on(fd: int) -> int:
    """How many fds of this process point at the pipe `fd` is an end of."""
    target = os.readlink(fd_path(fd))
    return sum(1 for n in os.listdir("/proc/self/fd") if _link(n) == target)


def _link(n: str) -> str:
    try:
        return os.readlink(fd_path(int(n)))
    except OSError:
        return ""


def test_closing_a_held_sink_releases_the_pump() -> None:
    async def main() -> bool:
        loop = asyncio.get_running_loop()
        r, w = pipe_nonblocking_reader()
        sink = RotatingFile(fd_path(w), 0, 0)
        child_r, child_w = os.pipe()
        proc = subprocess.Popen([sys.executable, "-c", NUMBERED.format(n=40_000)], stdout=child_w)
        os.close(child_w)
        ended = loop.create_future()
        pump = OutputPump(child_r, sink, on_eof=lambda: ended.set_result(None))
        pump.start()
        await wait_for(lambda: pump.held, what="the sink to hold")
        sink.close()  # the program was removed: its pump must not wait forever
        await asyncio.wait_for(ended, 20)
        await loop.run_in_executor(None, proc.wait)
        # what was held still goes out (the outlet lingers), then its fd is closed
        await read_until(r, lambda g: fds_on(r) == 2)
        os.close(r)
        os.close(w)
        return pump.held

    assert asyncio.run(main()) is False


def test_a_closed_sink_still_delivers_what_it_held() -> None:
    data = random.Random(2).randbytes(3 * 1024 * 1024)

    async def main() -> tuple[bytes, int]:
        r, w = pipe_nonblocking_reader()
        sink = RotatingFile(fd_path(w), 0, 0)
        assert sink.write(data) is False
        sink.close()  # a program's last lines, its log closed (removed, or at exit)
        got = await read_until(r, lambda g: len(g) >= len(data))
        await wait_for(lambda: fds_on(r) == 2, what="the outlet to close its fd")
        left = fds_on(r)
        os.close(r)
        os.close(w)
        return got, left

    got, left = asyncio.run(main())
    assert got == data and left == 2


def test_mainlog_echo_to_a_full_pipe_drops_whole_lines_and_says_how_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = 20_000  # 2 MB of lines: more than a grown pipe and HELD_MAX together

    async def main() -> bytes:
        r, w = pipe_nonblocking_reader()
        out = os.fdopen(w, "w")
        monkeypatch.setattr(sys, "stdout", out)
        log = MainLog(None, 0, 0, "info", echo=True)
        started = time.monotonic()
        for i in range(total):
            log.info(f"line {i:06d} " + "y" * 60)
        assert time.monotonic() - started < 5.0  # never waited on the pipe
        got = await read_until(r, lambda g: b"of the main log were dropped" in g)
        log.close()
        monkeypatch.undo()
        out.close()
        os.close(r)
        return got

    got = asyncio.run(main())
    lines = LINE.findall(got)
    assert b"".join(lines) == got  # whole lines only, none cut
    numbers = [int(m) for m in re.findall(rb"INFO line (\d{6}) ", got)]
    assert numbers == list(range(len(numbers)))  # in order, the first ones kept
    note = re.search(rb"WARN (\d+) lines \((\d+) bytes\) of the main log were dropped", got)
    assert note is not None
    assert len(numbers) + int(note.group(1)) == total
    kept = sum(len(x) for x in lines if b" INFO line " in x)
    assert kept <= PIPE_MAX + HELD_MAX + len(lines[0])  # a pipe and the bound, no more


def test_mainlog_file_on_a_full_pipe_never_blocks() -> None:
    async def main() -> bytes:
        r, w = pipe_nonblocking_reader()
        log = MainLog(fd_path(w), 0, 0, "info", echo=False)
        for i in range(20_000):
            log.info(f"line {i:06d} " + "y" * 60)
        got = await read_until(r, lambda g: b"was not writable\n" in g)
        log.close()
        os.close(r)
        os.close(w)
        return got

    got = asyncio.run(main())
    assert re.search(rb"WARN \d+ lines \(\d+ bytes\) of the main log were dropped while", got)


def run_with_socket_stdout(code: str) -> tuple[int, bytes]:
    """Run code in a fresh interpreter whose stdout is a socket (as systemd gives services);
    its exit code and all it sent, read while it runs (it may fill the socket)."""
    a, b = socket.socketpair()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=b, env=env)
    b.close()
    a.settimeout(30)
    got = bytearray()
    while chunk := a.recv(65536):
        got += chunk
    a.close()
    return proc.wait(30), bytes(got)


def test_dev_stdout_that_is_a_socket_is_written(tmp_path: Path) -> None:
    # systemd gives services a socket for stdout: /proc/self/fd/1 cannot be opened
    # (ENXIO; 4.3 fails the spawn with it), so the fd is duplicated and sent to.
    code = (
        "from corral.logs.rotating import RotatingFile\n"
        "from corral.logs.mainlog import MainLog\n"
        "rf = RotatingFile('/dev/stdout', 0, 0)\n"
        "assert rf.write(b'via the socket\\n') is True\n"
        "rf.close()\n"
        "log = MainLog(None, 0, 0, 'info', echo=True)\n"
        "log.info('echo too')\n"
        "log.close()\n"
    )
    returncode, got = run_with_socket_stdout(code)
    assert returncode == 0
    assert got.startswith(b"via the socket\n")
    assert got.endswith(b" INFO echo too\n")


def test_parts_a_pipe_does_not_take_are_held_in_order_and_a_bytearray_is_copied() -> None:
    async def main() -> tuple[bytes, int]:
        r, w = pipe_nonblocking_reader()
        rf = RotatingFile(fd_path(w), 0, 0)
        other = RotatingFile(f"/dev/fd/{w}", 0, 0)  # a second owner of the same outlet
        big = random.Random(2).randbytes(PIPE_MAX + 300_000)
        mutable = bytearray(b"before\n")
        parts = [b"head\n", memoryview(big)[100:], mutable, b"", b"tail\n"]
        assert rf.write_parts(parts) is False  # more than the pipe: the rest is held
        held = rf.pending
        mutable[:] = b"AFTER!\n"  # the caller may reuse its buffer once write_parts returns
        assert other.write_parts([b"other\n"]) is False  # queued behind, not mixed in
        assert other.pending == 6
        got = await read_until(r, lambda g: g.endswith(b"other\n"))
        assert rf.pending == 0 and other.pending == 0
        rf.close()
        other.close()
        os.close(r)
        os.close(w)
        return got, held

    got, held = asyncio.run(main())
    big = random.Random(2).randbytes(PIPE_MAX + 300_000)
    assert got == b"head\n" + big[100:] + b"before\n" + b"tail\n" + b"other\n"
    assert 0 < held < len(got)


def test_parts_to_a_socket_are_sent_in_order_when_it_fills(tmp_path: Path) -> None:
    code = (
        "import asyncio\n"
        "from corral.logs.rotating import RotatingFile\n"
        "async def main():\n"
        "    rf = RotatingFile('/dev/stdout', 0, 0)\n"
        "    parts = [b'%06d\\n' % i * 1000 for i in range(300)]\n"  # 2.1 MB in 300 parts
        "    rf.write_parts(parts)\n"
        "    done = asyncio.get_running_loop().create_future()\n"
        "    rf.when_writable(lambda d: done.set_result(d))\n"
        "    assert await done is None\n"
        "    rf.close()\n"
        "asyncio.run(main())\n"
    )
    returncode, got = run_with_socket_stdout(code)
    assert returncode == 0
    assert got == b"".join(b"%06d\n" % i * 1000 for i in range(300))
