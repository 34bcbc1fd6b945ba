"""OutputPump / InputPipe against real child processes and pipes."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from corral.logs import capture
from corral.logs.capture import (
    BEGIN_TOKEN,
    END_TOKEN,
    AnsiStripper,
    CaptureSplitter,
    InputPipe,
    OutputPump,
    StdinClosedError,
    strip_ansi,
)
from corral.logs.rotating import RotatingFile
from corral.logs.sink import CallbackSink

BIG = 20 * 1024 * 1024
WRITER = (
    "import os, random\n"
    f"data = random.Random(3).randbytes({BIG})\n"
    "v = memoryview(data)\n"
    "while v:\n"
    "    v = v[os.write(1, v[:300000]):]\n"
)


def spawn(code: str, **kw: object) -> tuple[subprocess.Popen[bytes], int]:
    """Start `python -c code` with stdout on a fresh pipe; return (proc, read end)."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=w, **kw)  # type: ignore[call-overload]
    os.close(w)
    return proc, r


async def pump_until_eof(
    fd: int, sink: RotatingFile | None, **kw: object
) -> tuple[OutputPump, list[int]]:
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    calls: list[int] = []

    def on_eof() -> None:
        calls.append(1)
        if not done.done():
            done.set_result(None)

    pump = OutputPump(fd, sink, on_eof=on_eof, **kw)  # type: ignore[arg-type]
    pump.start()
    await asyncio.wait_for(done, 20)
    return pump, calls


def joined_logs(log: Path) -> bytes:
    n = 1
    while Path(f"{log}.{n}").exists():
        n += 1
    parts = [Path(f"{log}.{i}").read_bytes() for i in range(n - 1, 0, -1)]
    return b"".join(parts) + log.read_bytes()


def test_twenty_megabytes_zero_copy_into_rotating_file(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    limit = 1_000_003  # not a multiple of any read size
    sink = RotatingFile(str(log), maxbytes=limit, backups=40)
    proc, fd = spawn(WRITER)

    async def main() -> tuple[list[int], int]:
        pump, calls = await pump_until_eof(fd, sink)
        pump.drain()  # after EOF: a no-op that must not call on_eof again
        pump.close()
        return calls, pump.spliced

    calls, spliced = asyncio.run(main())
    assert proc.wait(10) == 0
    sink.close()
    assert calls == [1]
    assert spliced == BIG  # every byte went pipe -> file by splice(2), none through memory
    assert joined_logs(log) == random.Random(3).randbytes(BIG)
    # Only the splice path stops exactly at the rotation boundary (read/write
    # overshoots by part of a chunk), so every backup is exactly `limit` bytes.
    backups = [p for p in tmp_path.glob("child.log.*")]
    assert len(backups) == BIG // limit
    assert {p.stat().st_size for p in backups} == {limit}


def test_read_path_with_on_data_delivers_in_order(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    sink = RotatingFile(str(log), maxbytes=300 * 1024, backups=40)
    seen = bytearray()
    proc, fd = spawn(WRITER.replace(str(BIG), str(2 * 1024 * 1024)))
    pump, _ = asyncio.run(pump_until_eof(fd, sink, on_data=seen.extend))
    assert pump.spliced == 0  # a consumer of the bytes: read/write, not splice
    proc.wait(10)
    sink.close()
    expected = random.Random(3).randbytes(2 * 1024 * 1024)
    assert bytes(seen) == expected
    assert joined_logs(log) == expected
    # Read/write path: a file may exceed maxbytes by less than one 128 KiB chunk.
    for p in tmp_path.glob("child.log*"):
        assert p.stat().st_size < 300 * 1024 + 128 * 1024


def test_no_sink_still_drains_the_pipe() -> None:
    proc, fd = spawn(WRITER.replace(str(BIG), str(1024 * 1024)))
    _, calls = asyncio.run(pump_until_eof(fd, None))
    assert proc.wait(10) == 0  # would block forever on a full pipe otherwise
    assert calls == [1]


def test_strip_ansi_through_a_child(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    sink = RotatingFile(str(log), maxbytes=0, backups=0)
    code = (
        "import os, time\n"
        "os.write(1, b'\\x1b[1;31mred\\x1b[0m plain \\x1b[2J\\x1b[3')\n"
        "time.sleep(0.2)\n"  # the escape straddles two reads
        "os.write(1, b'2mgreen\\x1b[0m\\n\\x1b(B keep\\n')\n"
    )
    proc, fd = spawn(code)
    events = bytearray()
    asyncio.run(pump_until_eof(fd, sink, strip_ansi=True, on_data=events.extend))
    proc.wait(10)
    sink.close()
    assert log.read_bytes() == b"red plain green\n\x1b(B keep\n"
    assert bytes(events) == log.read_bytes()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (b"\x1b[31mx\x1b[0m", b"x"),
        (b"a\x1b[10;20Hb\x1b[Kc", b"abc"),
        (b"\x1b[?25lhidden\x1b[?25h", b"hidden"),
        (b"no escapes\n", b"no escapes\n"),
        (b"\x1b]0;title\x07", b"\x1b]0;title\x07"),  # OSC is not ESC[
    ],
)
def test_strip_ansi_table(raw: bytes, clean: bytes) -> None:
    assert strip_ansi(raw) == clean


def test_ansi_stripper_holds_back_split_sequences() -> None:
    s = AnsiStripper()
    assert s.feed(b"a\x1b") == b"a"
    assert s.feed(b"[3") == b""
    assert s.feed(b"1mb") == b"b"
    assert s.feed(b"c\x1b[1") == b"c"
    assert s.flush() == b""  # unfinished escape at EOF is stripped


def test_capture_splitter_tokens_straddling_reads() -> None:
    cs = CaptureSplitter(1000)
    stream = b"before " + BEGIN_TOKEN + b"secret body" + END_TOKEN + b" after\n"
    segments: list[tuple[bool, bytes]] = []
    bodies: list[bytes] = []
    for i in range(0, len(stream), 5):
        seg, bod = cs.feed(stream[i : i + 5])
        segments += seg
        bodies += bod
    segments.append((False, cs.flush()))
    logged = b"".join(d for c, d in segments if not c)
    captured = b"".join(d for c, d in segments if c)
    assert logged == b"before  after\n"
    assert captured == b"secret body"
    assert bodies == [b"secret body"]


def test_capture_splitter_flushes_partial_token_at_eof() -> None:
    cs = CaptureSplitter(1000)
    seg, _ = cs.feed(b"x <!--XSUP")
    assert seg == [(False, b"x ")]
    assert cs.flush() == b"<!--XSUP"  # Supervisor loses this; we log it


def test_capture_splitter_bounds_body_to_last_maxbytes() -> None:
    cs = CaptureSplitter(4)
    _, bodies = cs.feed(BEGIN_TOKEN + b"0123456789" + END_TOKEN)
    assert bodies == [b"6789"]


def test_pump_capture_mode_diverts_to_on_capture(tmp_path: Path) -> None:
    log = tmp_path / "c.log"
    sink = RotatingFile(str(log), maxbytes=0, backups=0)
    payload = b"hello " + BEGIN_TOKEN + b"<data/>" + END_TOKEN + b" bye\n"
    proc, fd = spawn(f"import os; os.write(1, {payload!r})")
    bodies: list[bytes] = []
    asyncio.run(pump_until_eof(fd, sink, capture_maxbytes=100, on_capture=bodies.append))
    proc.wait(10)
    sink.close()
    assert bodies == [b"<data/>"]
    assert log.read_bytes() == b"hello  bye\n"


def test_drain_stops_at_eagain_when_a_grandchild_holds_the_pipe(tmp_path: Path) -> None:
    r, w = os.pipe()
    os.write(w, b"left over\n")
    seen = bytearray()
    eofs: list[int] = []
    pump = OutputPump(r, None, on_eof=lambda: eofs.append(1), on_data=seen.extend)
    pump.drain()  # w still open: returns at EAGAIN instead of blocking
    assert bytes(seen) == b"left over\n"
    assert not pump.eof and eofs == []
    os.close(w)
    pump.drain()
    assert pump.eof and eofs == [1]
    pump.close()


def test_sink_write_error_is_reported_once_and_pipe_keeps_draining(tmp_path: Path) -> None:
    proc, fd = spawn(WRITER.replace(str(BIG), str(512 * 1024)))
    sink = RotatingFile("/dev/full", maxbytes=0, backups=0)
    errors: list[OSError] = []
    seen = bytearray()
    asyncio.run(pump_until_eof(fd, sink, on_data=seen.extend, on_error=errors.append))
    assert proc.wait(10) == 0
    sink.close()
    assert len(seen) == 512 * 1024
    assert len(errors) == 1


def test_input_pipe_round_trip_and_closed_stdin() -> None:
    r, w = os.pipe()
    out_r, out_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.readline())"],
        stdin=r,
        stdout=out_w,
    )
    os.close(r)
    os.close(out_w)

    async def main() -> bytes:
        stdin = InputPipe(w)
        stdin.write(b"hello child\n")
        chunks = bytearray()
        done = asyncio.get_running_loop().create_future()
        pump = OutputPump(out_r, None, on_eof=lambda: done.set_result(None), on_data=chunks.extend)
        pump.start()
        await asyncio.wait_for(done, 10)
        await asyncio.get_running_loop().run_in_executor(None, proc.wait)
        with pytest.raises(StdinClosedError):  # the child has exited: EPIPE
            stdin.write(b"anyone?\n")
        with pytest.raises(BrokenPipeError):
            stdin.write(b"still closed\n")
        stdin.close()
        return bytes(chunks)

    assert asyncio.run(main()) == b"hello child\n"


def test_input_pipe_queues_beyond_pipe_capacity() -> None:
    r, w = os.pipe()
    big = os.urandom(1024 * 1024)

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        stdin = InputPipe(w)
        stdin.write(big)  # far more than the 64 KiB pipe buffer: must not block
        assert stdin.pending > 0
        got = bytearray()
        while len(got) < len(big):
            got += await loop.run_in_executor(None, os.read, r, 1 << 20)
        stdin.close()
        with pytest.raises(StdinClosedError):
            stdin.write(b"x")
        return bytes(got)

    assert asyncio.run(main()) == big
    os.close(r)


def test_retarget_moves_a_running_pipe_to_new_consumers(tmp_path: Path) -> None:
    """update's live output keys: bytes before the switch went to the old consumers, bytes
    after it to the new ones, the old ones were told to finish, nothing read twice or lost."""
    from corral.logs.rotating import RotatingFile

    old_file = RotatingFile(str(tmp_path / "old.log"), 0, 0)
    new_file = RotatingFile(str(tmp_path / "new.log"), 0, 0)
    old_seen: list[bytes] = []
    new_seen: list[bytes] = []
    ended: list[str] = []

    async def main() -> None:
        r, w = os.pipe()
        done = asyncio.get_running_loop().create_future()
        pump = OutputPump(
            r,
            old_file,
            on_eof=lambda: done.set_result(None),
            on_data=old_seen.append,
            on_end=lambda: ended.append("old"),
        )
        pump.start()
        os.write(w, b"before\n")
        while not old_seen:
            await asyncio.sleep(0.01)
        pump.retarget(
            new_file,
            on_data=new_seen.append,
            on_end=lambda: ended.append("new"),
            capture_maxbytes=0,
        )
        assert ended == ["old"]
        os.write(w, b"after\n")
        os.close(w)
        await asyncio.wait_for(done, 10)

    asyncio.run(main())
    assert b"".join(old_seen) == b"before\n" and b"".join(new_seen) == b"after\n"
    assert (tmp_path / "old.log").read_bytes() == b"before\n"
    assert (tmp_path / "new.log").read_bytes() == b"after\n"
    assert ended == ["old", "new"]


async def _two_quick_lines(w: int, chunks: list[bytes]) -> None:
    """Wake the pump twice within COALESCE: it reads the pipe on its timer from then on."""
    os.write(w, b"1\n")
    await _until(lambda: len(chunks) == 1)
    os.write(w, b"2\n")
    await _until(lambda: len(chunks) == 2)


async def _until(cond: object, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_a_busy_pipe_is_read_in_larger_pieces_then_at_once_when_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a long window, so that nothing here depends on how fast the machine is
    monkeypatch.setattr(capture, "COALESCE", 0.5)

    async def main() -> list[bytes]:
        r, w = os.pipe()
        chunks: list[bytes] = []
        pump = OutputPump(r, CallbackSink(chunks.append), on_eof=lambda: None)
        pump.start()
        await _two_quick_lines(w, chunks)
        # each of these would be a read of its own on the selector (the loop runs between
        # them and the fd is readable); on the timer they wait and come in one or two reads
        for i in range(10):
            os.write(w, b"line %d\n" % i)
            await asyncio.sleep(0.01)
        await _until(lambda: b"".join(chunks).endswith(b"line 9\n"))
        assert len(chunks) - 2 <= 3, chunks
        # a timer read that finds the pipe empty goes back to the selector: a lone line
        # is then read while the loop runs, not a window later
        await asyncio.sleep(1.2)
        before = len(chunks)
        os.write(w, b"alone\n")
        await asyncio.sleep(0.05)
        assert chunks[before:] == [b"alone\n"]
        pump.close()
        os.close(w)
        return chunks

    got = asyncio.run(main())
    assert b"".join(got) == b"1\n2\n" + b"".join(b"line %d\n" % i for i in range(10)) + b"alone\n"


def test_a_pipe_read_in_big_pieces_is_never_put_on_the_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bulk writer's reads already carry their wake-up: on the timer it only paid more CPU.
    # With a 5 s window every read here would wait 5 s if it went on the timer.
    monkeypatch.setattr(capture, "COALESCE", 5.0)

    async def main() -> list[bytes]:
        r, w = os.pipe()
        chunks: list[bytes] = []
        pump = OutputPump(r, CallbackSink(chunks.append), on_eof=lambda: None)
        pump.start()
        for i in range(4):
            os.write(w, bytes([65 + i]) * 20_000)  # whole before the loop runs again
            await _until(lambda n=20_000 * (i + 1): sum(map(len, chunks)) == n, timeout=2.5)
        pump.close()
        os.close(w)
        return chunks

    got = b"".join(asyncio.run(main()))
    assert got == b"".join(bytes([65 + i]) * 20_000 for i in range(4))


def test_closing_a_pump_read_on_its_timer_cancels_the_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(capture, "COALESCE", 0.2)

    async def main() -> tuple[list[bytes], list[object]]:
        loop = asyncio.get_running_loop()
        errors: list[object] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        r, w = os.pipe()
        chunks: list[bytes] = []
        ended: list[bool] = []
        pump = OutputPump(r, CallbackSink(chunks.append), on_eof=lambda: ended.append(True))
        pump.start()
        await _two_quick_lines(w, chunks)
        os.write(w, b"never read\n")
        pump.close()  # while the timer is pending
        await asyncio.sleep(0.5)
        os.close(w)
        return chunks, errors + ended

    chunks, problems = asyncio.run(main())
    assert chunks == [b"1\n", b"2\n"]
    assert problems == []
