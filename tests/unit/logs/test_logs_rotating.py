"""RotatingFile: rotation boundaries, byte-exactness, odd targets, reopen, clear."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from corral.logs.rotating import RotatingFile


def read(path: Path | str) -> bytes:
    return Path(path).read_bytes()


def test_rotation_names_and_backup_count(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=100, backups=3)
    for i in range(6):
        rf.write(bytes([65 + i]) * 100)  # each write reaches the limit
    rf.close()
    assert read(log) == b""
    assert read(f"{log}.1") == b"F" * 100
    assert read(f"{log}.2") == b"E" * 100
    assert read(f"{log}.3") == b"D" * 100
    assert not Path(f"{log}.4").exists()


def test_file_exceeds_limit_by_at_most_one_write(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=100, backups=2)
    rf.write(b"a" * 60)
    assert rf.size == 60 and not Path(f"{log}.1").exists()
    rf.write(b"b" * 60)
    rf.close()
    assert read(f"{log}.1") == b"a" * 60 + b"b" * 60
    assert read(log) == b""


def test_backups_zero_truncates(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=100, backups=0)
    rf.write(b"a" * 150)
    rf.write(b"tail")
    rf.close()
    assert read(log) == b"tail"
    assert not Path(f"{log}.1").exists()


def test_maxbytes_zero_never_rotates(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=0, backups=5)
    for _ in range(50):
        rf.write(b"z" * 1000)
    rf.close()
    assert len(read(log)) == 50_000
    assert not Path(f"{log}.1").exists()


def test_appends_to_existing_file(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"old\n")
    rf = RotatingFile(str(log), maxbytes=0, backups=0)
    assert rf.size == 4
    rf.write(b"new\n")
    rf.close()
    assert read(log) == b"old\nnew\n"


def test_five_megabytes_random_chunks_byte_exact(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    rng = random.Random(7)
    data = rng.randbytes(5 * 1024 * 1024)
    rf = RotatingFile(str(log), maxbytes=256 * 1024, backups=50)
    pos = 0
    biggest_chunk = 0
    while pos < len(data):
        n = rng.randint(1, 96 * 1024)
        biggest_chunk = max(biggest_chunk, n)
        rf.write(data[pos : pos + n])
        pos += n
    rf.close()
    backups = sorted(
        (int(p.name.rsplit(".", 1)[1]) for p in tmp_path.glob("big.log.*")), reverse=True
    )
    assert backups == list(range(len(backups), 0, -1))
    parts = [read(f"{log}.{n}") for n in backups] + [read(log)]
    assert b"".join(parts) == data
    for part in parts:
        assert len(part) < 256 * 1024 + biggest_chunk


def test_rotated_file_keeps_private_mode(tmp_path: Path) -> None:
    log = tmp_path / "auto.log"
    fd = os.open(log, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    rf = RotatingFile(str(log), maxbytes=10, backups=1)
    rf.write(b"x" * 20)
    rf.clear()
    rf.close()
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600


def read_nonblocking(fd: int) -> bytes:
    out = bytearray()
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


def test_fifo_target_with_maxbytes_never_seeks_or_rotates(tmp_path: Path) -> None:
    # The reader is a non-blocking fd of this thread: no reader thread to lose a race
    # with the writer (which once hung the suite in a blocking open()).
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        rf = RotatingFile(str(fifo), maxbytes=10, backups=3)
        assert not rf.is_regular and not rf.rotates
        for i in range(100):
            assert rf.write(b"line %03d\n" % i) is True
        got = read_nonblocking(reader)
        rf.reopen()
        rf.write(b"after reopen\n")
        rf.clear()  # must not unlink a non-regular target
        rf.close()
        got += read_nonblocking(reader)
    finally:
        os.close(reader)
    assert got == b"".join(b"line %03d\n" % i for i in range(100)) + b"after reopen\n"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert not Path(f"{fifo}.1").exists()


def test_dev_null_target(tmp_path: Path) -> None:
    rf = RotatingFile("/dev/null", maxbytes=1, backups=1)
    rf.write(b"x" * 1000)
    rf.after_external_write(1000)
    assert rf.size == 0
    rf.close()
    assert os.path.exists("/dev/null")


def test_reopen_after_logrotate_rename(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=0, backups=0)
    rf.write(b"before\n")
    os.rename(log, tmp_path / "x.log.rotated")
    rf.write(b"still old inode\n")
    rf.reopen()
    rf.write(b"after\n")
    rf.close()
    assert read(tmp_path / "x.log.rotated") == b"before\nstill old inode\n"
    assert read(log) == b"after\n"


def test_copytruncate_is_picked_up(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=0, backups=0)
    rf.write(b"a" * 100)
    os.truncate(log, 0)
    rf.write(b"b")
    rf.close()
    assert read(log) == b"b"  # no hole of 100 NUL bytes


def test_clear_deletes_current_only(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=10, backups=2)
    rf.write(b"1" * 10)
    rf.write(b"cur")
    rf.clear()
    assert rf.size == 0
    assert read(log) == b""
    assert read(f"{log}.1") == b"1" * 10
    rf.write(b"new")
    rf.close()
    assert read(log) == b"new"
    assert read(f"{log}.1") == b"1" * 10


def test_after_external_write_rotates(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    rf = RotatingFile(str(log), maxbytes=8, backups=1)
    assert rf.prepare_external_write() == 8
    n = os.write(rf.fileno(), b"12345678")
    rf.after_external_write(n)
    assert rf.size == 0
    rf.close()
    assert read(f"{log}.1") == b"12345678"


def test_symlinked_target_like_redirected_dev_stdout_is_never_renamed(tmp_path: Path) -> None:
    real = tmp_path / "captured-stdout"
    real.write_bytes(b"")
    link = tmp_path / "stdout"
    link.symlink_to(real)
    rf = RotatingFile(str(link), maxbytes=10, backups=2)
    for _ in range(10):
        rf.write(b"0123456789")
    rf.clear()
    rf.close()
    assert link.is_symlink()
    assert not Path(f"{link}.1").exists()
    assert real.read_bytes() == b"0123456789" * 10


@pytest.mark.parametrize("stdout_kind", ["pipe", "file"])
def test_real_dev_stdout_with_rotation_enabled(tmp_path: Path, stdout_kind: str) -> None:
    code = (
        "from corral.logs.rotating import RotatingFile\n"
        "rf = RotatingFile('/dev/stdout', maxbytes=1024, backups=3)\n"
        "for i in range(500):\n"
        "    rf.write(b'%04d\\n' % i)\n"
        "rf.reopen(); rf.clear(); rf.write(b'end\\n'); rf.close()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    expected = b"".join(b"%04d\n" % i for i in range(500)) + b"end\n"
    if stdout_kind == "pipe":
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, check=True
        ).stdout
    else:
        target = tmp_path / "out.txt"
        with open(target, "wb") as f:
            subprocess.run([sys.executable, "-c", code], env=env, stdout=f, check=True)
        out = target.read_bytes()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert out == expected
