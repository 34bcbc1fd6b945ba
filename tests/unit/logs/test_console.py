"""The console sink: programs' lines on corrald's stdout, through a real pipe.

Each test reads what a real pipe (standing in for `docker logs`' end of corrald's stdout)
received, and checks it line by line."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.logs.test_logs_backpressure import PIPE_MAX, read_some, read_until

from corral.logs.console import HIGH_WATER, IDLE_FLUSH, MAX_LINE, Console, _no_long_line
from corral.logs.mainlog import MainLog
from corral.logs.rotating import RotatingFile
from corral.logs.stamp import StampedSink, rfc3339


def on_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (the suite has no asyncio plugin)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def console_on(w: int, fmt: str = "prefixed", **kw: object) -> Console:
    return Console(fmt, out_fd=w, err_fd=w, colour=False, **kw)  # type: ignore[arg-type]


def drain(r: int) -> list[str]:
    return read_some(r).decode().splitlines()


@on_loop
async def test_prefixed_lines_are_padded_to_the_longest_name(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w)
    console.widen(["web", "worker_long"])
    web = console.sink("web", "web", "stdout")
    worker = console.sink("worker_long", "worker_long", "stderr")
    assert web.write(b"GET / 200\nGET /a")
    assert worker.write(b"tick\n")
    assert web.write(b" 404\n")
    console.close()
    assert drain(r) == [
        "web         | GET / 200",
        "worker_long | tick",
        "web         | GET /a 404",
    ]


@on_loop
async def test_a_partial_line_waits_for_its_end_then_goes_whole(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w)
    a = console.sink("a", "a", "stdout")
    b = console.sink("b", "b", "stdout")
    a.write(b"first half ")
    b.write(b"b line\n")
    a.write(b"second half\n")
    console.close()
    assert drain(r) == ["b       | b line", "a       | first half second half"]


@on_loop
async def test_the_last_line_without_newline_goes_out_when_the_channel_ends(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    console = console_on(w)
    sink = console.sink("job", "job", "stdout")
    sink.write(b"done, no newline")
    assert read_some(r) == b""
    sink.close()  # what the pump does at EOF
    await asyncio.sleep(0)  # the console writes once per loop iteration
    assert drain(r) == ["job     | done, no newline"]


@on_loop
async def test_a_partial_line_is_flushed_after_a_second_without_output(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    console = console_on(w)
    sink = console.sink("p", "p", "stdout")
    sink.write(b"Password: ")
    loop = asyncio.get_running_loop()
    started = loop.time()
    got = await read_until(r, lambda b: b.endswith(b"\n"), timeout=10)
    assert loop.time() - started >= IDLE_FLUSH * 0.9
    assert got == b"p       | Password: \n"
    # what follows on the same line is marked as its continuation
    sink.write(b"typed\n")
    console.close()
    assert drain(r) == ["p       + typed"]


@on_loop
async def test_a_line_over_64_kib_is_cut_into_marked_pieces(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w)
    sink = console.sink("big", "big", "stdout")
    line = bytes(range(97, 123)) * (MAX_LINE * 2 // 26 + 10)  # a little over 2 * 64 KiB
    task = asyncio.get_running_loop().run_in_executor(None, _read_all, r)
    sink.write(line + b"\nnext\n")
    console.close()
    os.close(w)
    out = (await task).split(b"\n")
    assert out[-1] == b""
    pieces = out[:-2]
    assert len(pieces) == 3
    assert pieces[0].startswith(b"big     | ")
    assert all(p.startswith(b"big     + ") for p in pieces[1:])
    assert all(len(p) - 10 <= MAX_LINE for p in pieces)
    assert b"".join(p[10:] for p in pieces) == line
    assert out[-2] == b"big     | next"


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, True)
    out = bytearray()
    while chunk := os.read(fd, 1 << 16):
        out += chunk
    return bytes(out)


@on_loop
async def test_json_lines_are_valid_whatever_bytes_the_program_wrote(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    console = console_on(w, "json")
    sink = console.sink("web_01", "web", "stderr")
    sink.write(b'quote " backslash \\ tab \t bell \x07 bad utf-8 \xff\xfe end\n')
    sink.write(b"caf\xc3\xa9\n")
    console.close()
    records = [json.loads(line) for line in drain(r)]
    assert [set(rec) for rec in records] == [{"time", "process", "group", "stream", "message"}] * 2
    first, second = records
    assert re.fullmatch(RFC3339, first["time"])
    assert (first["process"], first["group"], first["stream"]) == ("web_01", "web", "stderr")
    assert first["message"] == 'quote " backslash \\ tab \t bell \x07 bad utf-8 \ufffd\ufffd end'
    assert second["message"] == "café"


@on_loop
async def test_raw_lines_have_no_prefix(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w, "raw")
    sink = console.sink("x", "x", "stdout")
    sink.write(b"one\ntwo\n")
    console.close()
    assert drain(r) == ["one", "two"]


@on_loop
async def test_timestamps_put_an_rfc3339_time_in_front(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w, timestamps=True)
    sink = console.sink("x", "x", "stdout")
    sink.write(b"hello\n")
    console.close()
    (line,) = drain(r)
    assert re.fullmatch(RFC3339 + r" x       \| hello", line)


@on_loop
async def test_colour_only_when_asked_or_on_a_tty(pipe: tuple[int, int]) -> None:
    r, w = pipe
    plain = Console(out_fd=w)  # a pipe is no tty: no colour
    plain.sink("x", "x", "stdout").write(b"a\n")
    plain.close()
    assert b"\x1b[" not in read_some(r)
    coloured = Console(out_fd=w, colour=True)
    coloured.sink("x", "x", "stdout").write(b"a\n")
    coloured.close()
    assert read_some(r) == b"\x1b[36mx       | \x1b[0ma\n"


@on_loop
async def test_the_daemon_lines_appear_under_its_own_name(pipe: tuple[int, int]) -> None:
    r, w = pipe
    console = console_on(w)
    log = MainLog(None, 0, 0, "info", echo=True)
    log.attach_console(console)
    log.info("spawned: 'web' with pid 7")
    log.debug("not at info")
    log.close()
    assert drain(r) == ["corrald | INFO spawned: 'web' with pid 7"]


@on_loop
async def test_a_slow_console_holds_the_programs_and_loses_nothing(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    console = console_on(w)
    sink = console.sink("w", "w", "stdout")
    line = b"x" * 99 + b"\n"
    sent = 0
    # nobody reads the pipe: past the high-water mark the sink says "hold"
    while sink.write(line):
        sent += 1
        assert sent < 100_000, "the console never pushed back"
    sent += 1
    resumed = asyncio.get_running_loop().create_future()
    sink.when_writable(lambda dropped: resumed.set_result(dropped))
    assert not resumed.done()
    got = await read_until(r, lambda b: b.count(b"\n") >= sent, timeout=20)
    assert await asyncio.wait_for(resumed, 10) is None
    console.close()
    lines = got.splitlines()
    assert len(lines) == sent
    assert set(lines) == {b"w       | " + line[:-1]}


@on_loop
async def test_with_drop_on_a_slow_console_loses_lines_but_counts_them(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    console = console_on(w, drop=True)
    sink = console.sink("chatty", "chatty", "stdout")
    line = b"y" * 999 + b"\n"
    total = (PIPE_MAX + 2 * HIGH_WATER) // len(line) + 1000  # more than pipe and buffer
    for i in range(total):
        assert sink.write(line)  # never holds the program
        if i % 64 == 0:
            await asyncio.sleep(0)  # the loop runs between reads, as it does for a pump
    got = await read_until(r, lambda b: b"lines dropped from chatty" in b, timeout=20)
    console.close()
    got += read_some(r)
    lines = got.splitlines()
    (note,) = [ln for ln in lines if ln.startswith(b"corrald")]
    dropped = int(note.split(b"WARN ")[1].split()[0])
    kept = [ln for ln in lines if ln.startswith(b"chatty")]
    assert dropped > 0
    assert len(kept) + dropped == total


def test_rfc3339_has_milliseconds_and_the_offset() -> None:
    assert re.fullmatch(RFC3339, rfc3339(1_000_000_000.5))
    assert rfc3339(1_000_000_000.5)[19:23] == ".500"


def test_log_timestamps_stamp_each_line_where_it_begins(tmp_path: Path) -> None:
    path = str(tmp_path / "out.log")
    file = RotatingFile(path, 0, 0)
    stamped = StampedSink(file)
    stamped.write(b"one\ntw")
    stamped.write(b"o\nthree")
    stamped.end_line()
    stamped.write(b"next run\n")
    file.close()
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 4
    for line, text in zip(lines, ["one", "two", "three", "next run"], strict=True):
        assert re.fullmatch(RFC3339 + " " + text, line), line


@given(
    st.lists(
        st.one_of(
            st.sampled_from([0, 1, MAX_LINE // 2 - 1, MAX_LINE // 2, MAX_LINE, MAX_LINE + 1]),
            st.integers(0, 2 * MAX_LINE),
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=300, deadline=None)
def test_the_fast_path_never_misses_a_long_line(lengths: list[int]) -> None:
    buf = b"\n".join(b"x" * n for n in lengths) + b"\ntail"
    end = buf.rfind(b"\n")
    if _no_long_line(buf, end):
        assert max(lengths) <= MAX_LINE
