"""A log on a real full filesystem (a 64 KiB tmpfs): the failure is said once, the pipe
keeps draining (the program never blocks), the bytes lost are counted, and the episode
ends when the file takes writes again. Needs root to mount; without it,
tests/integration/test_log_write_errors.py makes a real EFBIG with RLIMIT_FSIZE."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.logs.capture import CHUNK, OutputPump
from corral.logs.rotating import RotatingFile

TOTAL = 200 * 1024
CHILD = (
    "import os, sys\n"
    f"for i in range({TOTAL // 1024}):\n"
    "    os.write(1, b'%05d' % i + b'x' * 1018 + b'\\n')\n"
    "os.write(2, b'written\\n')\n"
    "sys.stdin.readline()\n"
    "for i in range(10):\n"
    "    os.write(1, b'tail %02d\\n' % i)\n"
)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (test_log_write_errors.py covers EFBIG)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def unread(fd: int) -> int:
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def test_disk_full_is_told_once_and_the_loss_counted(full_disk: Path) -> None:
    log = full_disk / "child.log"
    sink = RotatingFile(str(log), maxbytes=0, backups=0)
    errors: list[OSError] = []
    recovered: list[int] = []

    async def main() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdin=in_r, stdout=out_w, stderr=err_w
        )
        for fd in (out_w, err_w, in_r):
            os.close(fd)
        ended = loop.create_future()
        # nothing but the file wants the bytes: the zero-copy path, as users run it
        pump = OutputPump(
            out_r,
            sink,
            on_eof=lambda: ended.set_result(None),
            on_error=errors.append,
            on_recover=recovered.append,
        )
        pump.start()
        marker = await loop.run_in_executor(None, os.read, err_r, 100)
        assert marker == b"written\n"  # the child was never blocked by the full disk
        deadline = time.monotonic() + 20
        while unread(pump.fd) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        size_before = log.stat().st_size
        sink.clear()  # room again
        os.write(in_w, b"go\n")
        await asyncio.wait_for(ended, 20)
        assert await loop.run_in_executor(None, proc.wait) == 0
        for fd in (err_r, in_w):
            os.close(fd)
        return size_before, pump.spliced

    size_before, spliced = asyncio.run(main())
    sink.close()
    assert len(errors) == 1 and errors[0].errno == errno.ENOSPC
    assert len(recovered) == 1
    lost = recovered[0]
    assert 0 < size_before < TOTAL
    # every byte is either in the file or counted lost (a write cut short by the full
    # disk is counted whole: at most one read too many)
    assert TOTAL <= size_before + lost <= TOTAL + CHUNK
    assert log.read_bytes() == b"".join(b"tail %02d\n" % i for i in range(10))
    assert spliced > 0
