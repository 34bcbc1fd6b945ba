"""Deterministic byte streams the writer programs emit and the bench verifies afterwards."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

CHUNK = 64 * 1024
LINE = 100
_BASE = bytes((i * 7 + 13) % 94 + 33 for i in range(CHUNK))  # printable, non-repeating in a line


def bulk_chunks(total: int) -> Iterator[bytes]:
    """The bulk stream: 64 KiB blocks, each stamped with its index so misplaced data shows."""
    k = 0
    sent = 0
    while sent < total:
        head = b"#%014d\n" % k
        block = head + _BASE[len(head) :]
        block = block[: total - sent]
        yield block
        sent += len(block)
        k += 1


def chatty_lines(total: int, tag: str) -> Iterator[bytes]:
    """The chatty stream: total // 100 lines of exactly 100 bytes each."""
    for i in range(total // LINE):
        text = f"{tag} {i:09d} ".encode()
        yield text + b"x" * (LINE - 1 - len(text)) + b"\n"


def tail_of(chunks: Iterator[bytes], n: int) -> bytes:
    """The last n bytes of a stream (to tell when the last write reached a log file)."""
    buf = b""
    for c in chunks:
        buf = (buf + c)[-n:]
    return buf


def verify_files(paths: Sequence[str], expected: Iterator[bytes]) -> tuple[bool, int, str]:
    """Compare the concatenated files with the expected stream: (equal, bytes found, why not)."""
    pending = b""
    found = 0
    exp_iter = iter(expected)
    for path in paths:
        with open(path, "rb") as f:
            while True:
                got = f.read(1 << 20)
                if not got:
                    break
                found += len(got)
                view = memoryview(got)
                while view:
                    if not pending:
                        try:
                            pending = next(exp_iter)
                        except StopIteration:
                            return False, found, f"extra bytes in {path}"
                    n = min(len(pending), len(view))
                    if view[:n] != pending[:n]:
                        return False, found, f"mismatch in {path}"
                    pending = pending[n:]
                    view = view[n:]
    if pending or next(exp_iter, None) is not None:
        return False, found, "bytes missing"
    return True, found, ""
