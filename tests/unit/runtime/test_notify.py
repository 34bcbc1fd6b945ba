"""The sd_notify receiver: real datagram sockets, real senders (Python, a child process,
the real systemd-notify), on a real asyncio loop."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from corral.runtime.notify import NotifyDir, NotifySocket, parse_notify

WAIT = 10.0  # a condition ends every wait; this only bounds a broken one

SEND_CHILD = (
    "import socket,os; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); "
    "s.connect(os.environ['NOTIFY_SOCKET']); s.send(b'STATUS=warming up\\nREADY=1')"
)


class Inbox:
    """Collects messages; wait(n) returns once n have arrived."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self._changed = asyncio.Event()

    def __call__(self, msg: dict[str, str]) -> None:
        self.messages.append(msg)
        self._changed.set()

    async def wait(self, n: int) -> list[dict[str, str]]:
        async def until() -> None:
            while len(self.messages) < n:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), WAIT)
        return self.messages


def run(test: Callable[[asyncio.AbstractEventLoop, list[dict[str, Any]]], Awaitable[None]]) -> None:
    """Runs test(loop, errors) on a fresh loop; errors collects what reaches the loop's
    exception handler (a reader callback that raised)."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        await test(loop, errors)

    asyncio.run(main())


def client(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(path)
    return s


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"READY=1", {"READY": "1"}),
        (b"READY=1\n", {"READY": "1"}),
        (b"STATUS=a=b c=d", {"STATUS": "a=b c=d"}),
        (b"READY=1\nSTATUS=up\nMAINPID=42\n", {"READY": "1", "STATUS": "up", "MAINPID": "42"}),
        (b"STATUS=one\nSTATUS=two", {"STATUS": "two"}),
        (b"junk\n\n=nokey\nREADY=1\nmore junk", {"READY": "1"}),
        (b"STATUS=", {"STATUS": ""}),
        (b"STATUS=caf\xc3\xa9 \xff\xfe", {"STATUS": "caf\u00e9 \ufffd\ufffd"}),
        (b"", {}),
    ],
)
def test_parse_notify(data: bytes, expected: dict[str, str]) -> None:
    assert parse_notify(data) == expected


def test_python_client_sendto(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("web"), inbox)
        ns.open(loop)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"READY=1", ns.path)
        assert await inbox.wait(1) == [{"READY": "1"}]
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


def test_child_process_sends(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("grp:web_00"), inbox)
        ns.open(loop)
        env = dict(os.environ, NOTIFY_SOCKET=ns.path)
        # in a thread: the loop keeps reading while the child runs
        done = await loop.run_in_executor(
            None, lambda: subprocess.run([sys.executable, "-c", SEND_CHILD], env=env, timeout=WAIT)
        )
        assert done.returncode == 0
        assert await inbox.wait(1) == [{"STATUS": "warming up", "READY": "1"}]
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


SYSTEMD_NOTIFY = shutil.which("systemd-notify")


@pytest.mark.skipif(
    SYSTEMD_NOTIFY is None, reason="systemd-notify not installed (Debian/Ubuntu package: systemd)"
)
def test_real_systemd_notify_from_shell(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("db"), inbox)
        ns.open(loop)
        env = dict(os.environ, NOTIFY_SOCKET=ns.path)
        t0 = time.monotonic()
        done = await loop.run_in_executor(
            None,
            lambda: subprocess.run(
                ["sh", "-c", "systemd-notify --ready --status=x"],
                env=env,
                capture_output=True,
                timeout=WAIT,
            ),
        )
        elapsed = time.monotonic() - t0
        # systemd >= 246 then sends BARRIER=1 with a descriptor and waits (5 s, then exit 1)
        # for it to be closed: reading with plain recv releases it, so it exits 0 at once
        assert done.returncode == 0, done.stderr
        assert elapsed < 4.0
        await inbox.wait(1)
        assert inbox.messages[0] == {"READY": "1", "STATUS": "x"}
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


def test_queued_datagrams_all_delivered_in_order(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("q"), inbox)
        ns.open(loop)
        sent = 0
        with client(ns.path) as s:
            s.setblocking(False)
            # as many as the kernel queues (net.unix.max_dgram_qlen, 10 in a fresh netns),
            # all before the loop runs the reader once
            try:
                while sent < 2000:
                    s.send(f"STATUS=step {sent}\nN={sent}".encode())
                    sent += 1
            except BlockingIOError:
                pass
        assert sent >= 5
        got = await inbox.wait(sent)
        assert [m["N"] for m in got] == [str(i) for i in range(sent)]
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


def test_flood_from_a_blocking_sender_all_delivered_in_order(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))
    count = 1000  # past the kernel queue and past one wake-up's drain: both must resume

    def flood(path: str) -> None:
        with client(path) as s:
            for i in range(count):
                s.send(f"N={i}".encode())

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("flood"), inbox)
        ns.open(loop)
        sender = loop.run_in_executor(None, flood, ns.path)
        got = await inbox.wait(count)
        await asyncio.wait_for(sender, WAIT)
        assert [m["N"] for m in got] == [str(i) for i in range(count)]
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


def test_close_unlinks_and_is_idempotent(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("c"), inbox)
        ns.close()  # never opened: nothing to do
        ns.open(loop)
        assert stat.S_ISSOCK(os.stat(ns.path).st_mode)
        ns.close()
        assert not os.path.exists(ns.path)
        ns.close()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
            s.sendto(b"READY=1", ns.path)
        assert errors == []

    run(test)
    nd.remove()


def test_open_replaces_stale_file(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))
    path = nd.socket_path("stale")
    Path(path).write_text("left over")

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(path, inbox)
        ns.open(loop)
        with client(path) as s:
            s.send(b"READY=1")
        assert await inbox.wait(1) == [{"READY": "1"}]
        ns.close()

    run(test)
    nd.remove()


def test_close_from_inside_on_message_stops_draining(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        got: list[dict[str, str]] = []
        closed = asyncio.Event()

        def on_message(msg: dict[str, str]) -> None:
            got.append(msg)
            ns.close()
            closed.set()

        ns = NotifySocket(nd.socket_path("x"), on_message)
        ns.open(loop)
        with client(ns.path) as s:
            for i in range(3):
                s.send(f"N={i}".encode())
        await asyncio.wait_for(closed.wait(), WAIT)
        await asyncio.sleep(0)  # one more loop turn: a reader still registered would fire
        assert got == [{"N": "0"}]
        assert not os.path.exists(ns.path)
        assert errors == []

    run(test)
    nd.remove()


def test_raising_handler_is_reported_and_later_messages_arrive(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()

        def on_message(msg: dict[str, str]) -> None:
            if msg.get("BAD"):
                raise ValueError("bad message")
            inbox(msg)

        ns = NotifySocket(nd.socket_path("r"), on_message)
        ns.open(loop)
        with client(ns.path) as s:
            s.send(b"BAD=1")
            s.send(b"READY=1")
        assert await inbox.wait(1) == [{"READY": "1"}]
        assert len(errors) == 1
        assert isinstance(errors[0]["exception"], ValueError)
        ns.close()

    run(test)
    nd.remove()


def test_oversized_datagram_is_truncated_not_fatal(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        ns = NotifySocket(nd.socket_path("big"), inbox)
        ns.open(loop)
        with client(ns.path) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.send(b"STATUS=" + b"y" * (100 * 1024))
            s.send(b"READY=1")
        got = await inbox.wait(2)
        assert len(got[0]["STATUS"]) == 64 * 1024 - len("STATUS=")
        assert got[1] == {"READY": "1"}
        ns.close()
        assert errors == []

    run(test)
    nd.remove()


def test_notify_dir_modes_and_remove(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))
    assert Path(nd.path).parent == tmp_path
    assert Path(nd.path).name.startswith("corral-notify-")
    assert stat.S_IMODE(os.stat(nd.path).st_mode) == 0o711

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        ns = NotifySocket(nd.socket_path("m"), Inbox())
        ns.open(loop)
        assert stat.S_IMODE(os.stat(ns.path).st_mode) == 0o600
        Path(nd.path, "other").write_text("x")
        nd.remove()  # with the socket still open: takes everything
        assert not os.path.exists(nd.path)
        nd.remove()  # idempotent
        ns.close()  # its file is already gone: still fine

    run(test)


def test_socket_path_odd_and_long_names_fit_and_are_unique(tmp_path: Path) -> None:
    nd = NotifyDir(str(tmp_path))
    names = ["grp:web_00", "grp_web_00", "a b/c\\d\u00e9\n", "x" * 300, "x" * 300, ""]
    paths = [nd.socket_path(n) for n in names]
    assert len(set(paths)) == len(paths)
    for p in paths:
        assert len(os.fsencode(p)) <= 107
        assert os.path.dirname(p) == nd.path
        assert os.path.basename(p).isascii()
        assert "/" not in os.path.basename(p)
    assert os.path.basename(paths[0]).startswith("grp_web_00")

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        socks = [NotifySocket(p, Inbox()) for p in paths]
        for ns in socks:
            ns.open(loop)  # every path binds
        for ns in socks:
            ns.close()

    run(test)
    nd.remove()


def test_socket_path_refuses_a_directory_too_long(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    nd = NotifyDir(str(deep))
    with pytest.raises(ValueError, match="too long"):
        nd.socket_path("p")
    nd.remove()


def _world_x(path: str) -> bool:
    """Whether any user may run path: it and every directory above it are o+x."""
    real = Path(os.path.realpath(path))
    return all(os.stat(p).st_mode & stat.S_IXOTH for p in (real, *real.parents))


# an interpreter another user may run (sys.executable may sit under /root)
SYSTEM_PYTHON = next(
    (p for p in (sys.executable, "/usr/bin/python3") if os.access(p, os.X_OK) and _world_x(p)),
    None,
)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no python3 that uid 65534 may run")
def test_owner_uid_lets_another_user_send() -> None:
    nobody = 65534
    nd = NotifyDir()  # default parent (/tmp): the test's tmp_path is root-only

    def send_as_nobody(path: str) -> subprocess.CompletedProcess[bytes]:
        assert SYSTEM_PYTHON is not None
        return subprocess.run(
            [SYSTEM_PYTHON, "-c", SEND_CHILD],
            env={"NOTIFY_SOCKET": path},
            user=nobody,
            group=nobody,
            extra_groups=[],
            cwd="/",
            capture_output=True,
            timeout=WAIT,
        )

    async def test(loop: asyncio.AbstractEventLoop, errors: list[dict[str, Any]]) -> None:
        inbox = Inbox()
        owned = NotifySocket(nd.socket_path("owned"), inbox, owner_uid=nobody, owner_gid=nobody)
        owned.open(loop)
        st = os.stat(owned.path)
        assert (st.st_uid, st.st_gid) == (nobody, nobody)
        done = await loop.run_in_executor(None, send_as_nobody, owned.path)
        assert done.returncode == 0, done.stderr
        assert await inbox.wait(1) == [{"STATUS": "warming up", "READY": "1"}]
        # without the chown the same child is refused: the mode, not luck, decides
        other = NotifySocket(nd.socket_path("root-only"), Inbox())
        other.open(loop)
        denied = await loop.run_in_executor(None, send_as_nobody, other.path)
        assert denied.returncode != 0
        assert b"PermissionError" in denied.stderr
        owned.close()
        other.close()
        assert errors == []

    try:
        run(test)
    finally:
        nd.remove()
