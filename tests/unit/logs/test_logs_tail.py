"""read_log / tail_log semantics (readLog, tailProcessStdoutLog) and follow()."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.logs.rotating import RotatingFile
from corral.logs.tail import (
    TRUNCATED_MARKER,
    BadArguments,
    NoLogFile,
    ReadFailed,
    follow,
    read_log,
    tail_log,
)

CONTENT = b"0123456789abcde"  # 15 bytes


@pytest.fixture
def log15(tmp_path: Path) -> str:
    p = tmp_path / "f.log"
    p.write_bytes(CONTENT)
    return str(p)


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, 0, CONTENT),  # length 0 = to the end
        (0, 5, b"01234"),
        (5, 0, b"56789abcde"),
        (5, 3, b"567"),
        (10, 100, b"abcde"),
        (15, 0, b""),  # at EOF
        (100, 5, b""),  # past EOF
        (-3, 0, b"cde"),  # last |offset| bytes
        (-100, 0, CONTENT),
    ],
)
def test_read_log_table(log15: str, offset: int, length: int, expected: bytes) -> None:
    assert read_log(log15, offset, length) == expected


@pytest.mark.parametrize(("offset", "length"), [(0, -1), (-5, 3), (-5, -1), (5, -10)])
def test_read_log_bad_arguments(log15: str, offset: int, length: int) -> None:
    with pytest.raises(BadArguments):
        read_log(log15, offset, length)


def test_read_log_no_file(tmp_path: Path) -> None:
    with pytest.raises(NoLogFile) as info:
        read_log(None, 0, 0)
    assert str(info.value) == "None"
    missing = str(tmp_path / "missing.log")
    with pytest.raises(NoLogFile) as info:
        read_log(missing, 0, 0)
    assert info.value.path == missing


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        # The 4.3 quirk: the offset is not a start position.
        (5, 1000, (CONTENT, 15, False)),
        (0, 5, (b"abcde", 15, True)),  # overflow: last `length` bytes
        (0, 15, (CONTENT, 15, False)),
        (0, 100, (CONTENT, 15, False)),
        (10, 5, (b"abcde", 15, False)),
        (14, 1, (b"e", 15, False)),
        (15, 100, (b"", 15, False)),  # offset >= size
        (20, 100, (b"", 15, False)),
        (0, 0, (b"", 15, True)),
        (3, 4, (b"bcde", 15, True)),
        (-10, 5, (b"abcde", 15, True)),
        (0, -5, (b"", 15, True)),
    ],
)
def test_tail_log_table(
    log15: str, offset: int, length: int, expected: tuple[bytes, int, bool]
) -> None:
    assert tail_log(log15, offset, length) == expected


def test_tail_log_missing_file(tmp_path: Path) -> None:
    assert tail_log(str(tmp_path / "nope.log"), 7, 100) == (b"", 0, False)
    assert tail_log(None, 7, 100) == (b"", 0, False)


@pytest.mark.compat
def test_read_and_tail_match_supervisor_4_3(tmp_path: Path) -> None:
    """Black-box oracle: supervisor's own readFile/tailFile on the same files."""
    options = pytest.importorskip("supervisor.options")
    values = [-200, -16, -15, -5, -1, 0, 1, 5, 14, 15, 16, 100, 1000]
    for size in (0, 1, 15, 100):
        p = tmp_path / f"s{size}.log"
        p.write_bytes((b"0123456789" * 10)[:size])
        for offset, length in itertools.product(values, values):
            data, newoff, overflow = options.tailFile(str(p), offset, length)
            assert tail_log(str(p), offset, length) == (data.encode(), newoff, overflow)
            try:
                want: object = options.readFile(str(p), offset, length)  # bytes
            except ValueError as exc:
                want = str(exc)
            try:
                got: object = read_log(str(p), offset, length)
            except BadArguments:
                got = "BAD_ARGUMENTS"
            assert got == want, (size, offset, length)


async def _next(it: AsyncIterator[bytes], timeout: float = 3.0) -> bytes:
    return await asyncio.wait_for(it.__anext__(), timeout)


def test_follow_initial_tail_appends_rotation_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"x" * 3000 + b"LAST")

    async def main() -> None:
        it = follow(str(path), initial=10, interval=0.02)
        assert await _next(it) == b"xxxxxxLAST"
        with open(path, "ab") as f:
            f.write(b"more\n")
        assert await _next(it) == b"more\n"

        # Rotation by RotatingFile: old file moves to .1, a new one starts.
        rf = RotatingFile(str(path), maxbytes=10, backups=2)
        rf.write(b"end of old\n")  # reaches the limit: rotates
        rf.write(b"new file\n")
        got = b""
        while not got.endswith(b"new file\n"):
            got += await _next(it)
        assert got == b"end of old\nnew file\n"

        # copytruncate: shrink, then new data.
        os.truncate(path, 0)
        assert await _next(it) == TRUNCATED_MARKER
        rf.write(b"fresh\n")
        assert await _next(it) == b"fresh\n"
        rf.close()
        await it.aclose()  # type: ignore[attr-defined]

    asyncio.run(main())


def test_follow_missing_file(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(NoLogFile):
            await _next(follow(str(tmp_path / "missing.log")))

    asyncio.run(main())


def test_reading_a_fifo_log_never_waits_for_a_writer(tmp_path: Path) -> None:
    # Nobody holds the fifo open for writing (its sink waits for a reader): a plain
    # open() for reading would block the loop until a writer came.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ReadFailed, match="Illegal seek"):
        read_log(str(fifo), 0, 0)
    assert tail_log(str(fifo), 5, 100) == (b"", 5, False)

    async def first() -> bytes:
        return await anext(follow(str(fifo)))

    with pytest.raises(OSError, match="Illegal seek"):
        asyncio.run(first())
