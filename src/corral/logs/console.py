"""The console: every program's output, line by line, on corrald's own stdout (or stderr),
as `docker logs` and a terminal show it.

Each channel of a running program writes into its own `ConsoleSink`, which cuts the bytes
into whole lines, so lines of different programs never mix inside a line: a line is queued
to the console's target in one piece, and the target is written by one writer. A line
longer than MAX_LINE is cut into pieces, each after the first marked as continued; a last
line without a newline waits at most IDLE_FLUSH seconds (or until the channel ends).

Nothing is lost when the console is slower than the programs: a target holding more than
HIGH_WATER bytes makes every sink writing to it refuse more (`write` returns False), so the
pumps stop reading and the programs block on their own full pipes, as they would on a
terminal. With `drop`, lines are dropped instead and counted, and the count is said once
the target keeps up again. The daemon's own lines cannot be held at their source: they may
run DAEMON_EXTRA bytes past the mark, then they are dropped and counted too.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable, Iterable

from corral.logs.rotating import RotatingFile
from corral.logs.sink import Dropped, Resume
from corral.logs.stamp import rfc3339

__all__ = ["DAEMON_NAME", "HIGH_WATER", "IDLE_FLUSH", "MAX_LINE", "Console", "ConsoleSink"]

MAX_LINE = 64 * 1024
IDLE_FLUSH = 1.0
HIGH_WATER = 256 * 1024
DAEMON_EXTRA = 256 * 1024
DAEMON_NAME = "corrald"
_QUEUE_MAX = 1024 * 1024  # bytes gathered in one loop iteration before they go out anyway
_SEP = b" | "
_CONT_SEP = b" + "  # a piece that continues the line before it
_COLOURS = (36, 33, 32, 35, 34, 96, 93, 92, 95, 94)


def _loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Target:
    """One of corrald's own streams (fd 1 or 2), written without blocking: through a
    non-blocking description of it (/proc/self/fd/N, shared with any log naming it), or
    directly when it is a regular file.

    What the sinks send in one loop iteration goes out in one write at its end: with many
    busy programs that is one system call (and one wake-up of the reader) instead of one
    per program."""

    def __init__(self, fd: int, on_drained: Callable[[_Target, Dropped | None], None]) -> None:
        self.fd = fd
        self.broken = False
        self.tty = False
        self.file: RotatingFile | None = None
        self.waiters: list[Resume] = []
        self.waiting = False
        self.dropped: dict[str, int] = {}  # name -> lines dropped while full
        self._on_drained = on_drained
        self._queue: list[bytes | memoryview] = []
        self._queued = 0
        self._flush_handle: asyncio.Handle | None = None
        # the daemon's loop, once known (asyncio.get_running_loop costs a getpid() a call)
        self.loop: asyncio.AbstractEventLoop | None = None
        try:
            st = os.fstat(fd)
            self.tty = os.isatty(fd)
            if not stat.S_ISREG(st.st_mode):
                self.file = RotatingFile(f"/proc/self/fd/{fd}", 0, 0)
        except OSError:
            pass  # no such fd, or no /proc: written directly

    @property
    def pending(self) -> int:
        """Bytes not yet taken by the target: queued for this iteration's write, and held."""
        return self._queued + self.held

    @property
    def held(self) -> int:
        """Bytes written to the target that it has not taken yet."""
        return self.file.pending if self.file is not None else 0

    def write(self, data: bytes) -> None:
        self.write_parts((data,), len(data))

    def write_parts(self, parts: tuple[bytes | memoryview, ...], size: int) -> None:
        if self.broken:
            return
        loop = self.loop
        self._queue.extend(parts)
        self._queued += size
        if loop is None or loop.is_closed():  # no loop (start-up, exit): at once
            self.flush()
        elif self._queued > _QUEUE_MAX:
            self.flush()  # a writer that never lets the loop run still gets bounded
        elif self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush_soon)

    def flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._queue:
            parts, self._queue = self._queue, []
            self._queued = 0
            if self.file is not None:
                try:
                    self.file.write_parts(parts)
                except OSError:
                    self.broken = True  # the reader is gone for good (EPIPE, EIO)
                return
            self._put(b"".join(parts))

    def _flush_soon(self) -> None:
        self._flush_handle = None
        self.flush()
        if self.waiters or self.dropped:
            self.watch()

    def _put(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            if self.file is not None:
                self.file.write(data)
                return
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            # the reader is gone for good (EPIPE, EIO): nobody can see the console now
            self.broken = True

    def watch(self) -> None:
        """Tell the console once what waits has gone out."""
        if self.waiting or self._flush_handle is not None:
            return  # told already, or the coming flush will look again
        if self.file is None or self.broken or not self.file.pending:
            self._on_drained(self, None)
            return
        self.waiting = True
        self.file.when_writable(self._file_drained)

    def _file_drained(self, dropped: Dropped | None) -> None:
        self.waiting = False
        self._on_drained(self, dropped)

    def close(self, timeout: float) -> None:
        self.flush()
        if self.file is not None:
            if not self.file.closed:
                self.file.flush(timeout)
            self.file.close()
            self.file = None


class Console:
    def __init__(
        self,
        fmt: str = "prefixed",
        *,
        timestamps: bool = False,
        drop: bool = False,
        out_fd: int = 1,
        err_fd: int = 2,
        colour: bool | None = None,
    ) -> None:
        self.format = fmt
        self.timestamps = timestamps
        self.drop = drop
        self.width = len(DAEMON_NAME)
        self._out = _Target(out_fd, self._drained)
        self._err_fd = err_fd
        self._err: _Target | None = None
        self._colour = colour
        self._colours: dict[str, int] = {}
        self._heads: dict[tuple[str, bytes, int], tuple[str, bytes]] = {}
        self._sinks: set[ConsoleSink] = set()
        self._closed = False

    def configure(self, fmt: str, *, timestamps: bool, drop: bool) -> None:
        """A reload's settings (the targets stay)."""
        self.format, self.timestamps, self.drop = fmt, timestamps, drop
        self._heads.clear()

    def widen(self, names: Iterable[str]) -> None:
        """Pad names to the longest one: widened when programs with longer names come."""
        self.width = max(self.width, *(len(n) for n in names), len(DAEMON_NAME))

    def target(self, to_stderr: bool) -> _Target:
        if not to_stderr:
            return self._out
        if self._err is None:
            self._err = _Target(self._err_fd, self._drained)
        return self._err

    def sink(self, name: str, group: str, stream: str, *, to_stderr: bool = False) -> ConsoleSink:
        """The sink one channel of one run writes its lines to."""
        self.widen((name,))
        target = self.target(to_stderr)
        if target.loop is None:
            target.loop = _loop()
        sink = ConsoleSink(self, name, group, stream, target)
        self._sinks.add(sink)
        return sink

    # -- formatting -----------------------------------------------------------------------

    def _use_colour(self, target: _Target) -> bool:
        if self._colour is not None:
            return self._colour
        return target.tty and "NO_COLOR" not in os.environ

    def _prefix(self, name: str, target: _Target, sep: bytes) -> bytes:
        key = (name, sep, target.fd)
        head = self._heads.get(key)
        if head is None or len(head[0]) != self.width:
            # cached: this runs for every chunk of every program
            pad = name.ljust(self.width)
            raw = pad.encode("utf-8", "replace") + sep
            if self._use_colour(target):
                n = len(self._colours)
                colour = self._colours.setdefault(name, _COLOURS[n % len(_COLOURS)])
                raw = b"\x1b[%dm" % colour + raw + b"\x1b[0m"
            head = self._heads[key] = (pad, raw)
        if self.timestamps:
            return rfc3339().encode() + b" " + head[1]
        return head[1]

    def _render(self, sink: ConsoleSink, lines: list[bytes], continued: list[bool] | None) -> bytes:
        fmt = self.format
        target = sink.target
        if fmt == "raw":
            return b"\n".join(lines) + b"\n"
        if fmt == "json":
            time_ = rfc3339()
            out = []
            for i, line in enumerate(lines):
                record: dict[str, object] = {
                    "time": time_,
                    "process": sink.name,
                    "group": sink.group,
                    "stream": sink.stream,
                    "message": line.decode("utf-8", "replace"),
                }
                if continued is not None and continued[i]:
                    record["continued"] = True
                out.append(json.dumps(record, ensure_ascii=False).encode())
            return b"\n".join(out) + b"\n"
        prefix = self._prefix(sink.name, target, _SEP)
        if continued is None:
            # one join in C for a whole chunk of lines
            return prefix + (b"\n" + prefix).join(lines) + b"\n"
        cont = self._prefix(sink.name, target, _CONT_SEP)
        return b"".join(
            (cont if c else prefix) + line + b"\n" for line, c in zip(lines, continued, strict=True)
        )

    # -- writing --------------------------------------------------------------------------

    def emit(self, sink: ConsoleSink, lines: list[bytes], continued: list[bool] | None) -> None:
        target = sink.target
        if self.drop and target.held > HIGH_WATER:
            target.dropped[sink.name] = target.dropped.get(sink.name, 0) + len(lines)
            self._watch(target)
            return
        target.write(self._render(sink, lines, continued))

    def emit_block(self, sink: ConsoleSink, buf: bytes, end: int) -> None:
        """The whole lines of buf[:end] (buf[end] is their last newline), none continued or
        over MAX_LINE; what follows end is not theirs. No copy of buf is made for them."""
        fmt = self.format
        if fmt == "json":
            self.emit(sink, buf[:end].split(b"\n"), None)
            return
        target = sink.target
        if self.drop and target.held > HIGH_WATER:
            lines = buf.count(b"\n", 0, end + 1)
            target.dropped[sink.name] = target.dropped.get(sink.name, 0) + lines
            self._watch(target)
            return
        if fmt == "raw":
            target.write_parts((memoryview(buf)[: end + 1],), end + 1)
            return
        prefix = self._prefix(sink.name, target, _SEP)
        # every newline gets the prefix after it; what follows the last one (its prefix, and
        # the start of a line that is not whole yet) is cut off by a view, not a copy.
        # (bytes.count would find the cut too, but it walks the bytes one at a time.)
        body = buf.replace(b"\n", b"\n" + prefix)
        size = body.rfind(b"\n") + 1
        target.write_parts((prefix, memoryview(body)[:size]), len(prefix) + size)

    def accepting(self, target: _Target) -> bool:
        """May a program send more now? (False: hold it until `when_writable`.) What waits
        for the end of this loop iteration does not count: it is at most one read per
        program, and holding programs for it would stop and restart every pump each time."""
        return self.drop or target.broken or target.held <= HIGH_WATER

    def when_writable(self, target: _Target, callback: Resume) -> None:
        if self.accepting(target):
            callback(None)
            return
        target.waiters.append(callback)
        self._watch(target)

    def _watch(self, target: _Target) -> None:
        target.watch()

    def _drained(self, target: _Target, dropped: Dropped | None) -> None:
        if dropped is not None:
            target.broken = True  # the target failed with our bytes held: it is gone
        waiters, target.waiters = target.waiters, []
        for callback in waiters:
            callback(None)
        counts, target.dropped = target.dropped, {}
        for name, n in counts.items():
            self._daemon_text(target, "WARN", f"{n} lines dropped from {name}", None)

    def daemon(self, level: str, msg: str, line: str) -> None:
        """One main log line (`line`: as the log file has it, for the raw format)."""
        if self._out.loop is None:
            self._out.loop = _loop()
        self._daemon_text(self._out, level, msg, line)

    def _daemon_text(self, target: _Target, level: str, msg: str, line: str | None) -> None:
        if target.held > HIGH_WATER + DAEMON_EXTRA:
            target.dropped[DAEMON_NAME] = target.dropped.get(DAEMON_NAME, 0) + 1
            self._watch(target)
            return
        fmt = self.format
        if fmt == "raw":
            text = line if line is not None else f"{level} {msg}\n"
            target.write(text.encode("utf-8", "surrogateescape"))
            return
        parts = msg.splitlines() or [""]
        if fmt == "json":
            time_ = rfc3339()
            data = b"".join(
                json.dumps(
                    {
                        "time": time_,
                        "process": DAEMON_NAME,
                        "group": DAEMON_NAME,
                        "stream": "log",
                        "level": level,
                        "message": part,
                    },
                    ensure_ascii=False,
                ).encode("utf-8", "surrogateescape")
                + b"\n"
                for part in parts
            )
        else:
            prefix = self._prefix(DAEMON_NAME, target, _SEP) + level.encode() + b" "
            data = b"".join(
                prefix + part.encode("utf-8", "surrogateescape") + b"\n" for part in parts
            )
        target.write(data)

    def forget(self, sink: ConsoleSink) -> None:
        self._sinks.discard(sink)

    def close(self, timeout: float = 1.0) -> None:
        """At exit: finish every unfinished line, then give the targets `timeout` seconds
        to take what they hold (this blocks)."""
        if self._closed:
            return
        self._closed = True
        for sink in list(self._sinks):
            sink.close()
        for target in (self._out, self._err):
            if target is not None:
                target.close(timeout)


class ConsoleSink:
    """One channel of one run of a program, cut into lines for the console (a Sink)."""

    __slots__ = (
        "_console",
        "_continued",
        "_last",
        "_partial",
        "_timer",
        "closed",
        "group",
        "name",
        "stream",
        "target",
    )

    def __init__(
        self, console: Console, name: str, group: str, stream: str, target: _Target
    ) -> None:
        self._console = console
        self.name = name
        self.group = group
        self.stream = stream
        self.target = target
        self.closed = False
        self._partial = b""
        self._continued = False  # the next piece continues a line already sent
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, data: bytes) -> bool:
        if self.closed or not data:
            return True
        buf = self._partial + data if self._partial else data
        end = buf.rfind(b"\n")
        if end >= 0 and not self._continued and _no_long_line(buf, end):
            # the common case: whole lines of sane length, rendered in one C pass
            rest = buf[end + 1 :]
            if len(rest) <= MAX_LINE:
                self._console.emit_block(self, buf, end)
                self._partial = bytes(rest)
                if rest:
                    self._idle_timer()
                return self._console.accepting(self.target)
        if end < 0:
            lines: list[bytes] = []
            rest = buf
        else:
            lines = buf[:end].split(b"\n")
            rest = buf[end + 1 :]
        continued: list[bool] | None = None
        if self._continued and lines:
            continued = [True] + [False] * (len(lines) - 1)
            self._continued = False
        if lines and (len(buf) > MAX_LINE and max(map(len, lines)) > MAX_LINE):
            lines, continued = _cut(lines, continued)
        if len(rest) > MAX_LINE:
            # an endless line: send it in pieces, keeping at most MAX_LINE bytes held
            pieces = [rest[i : i + MAX_LINE] for i in range(0, len(rest) - MAX_LINE, MAX_LINE)]
            if continued is None:
                continued = [False] * len(lines)
            lines += pieces
            continued += [self._continued] + [True] * (len(pieces) - 1)
            rest = rest[len(pieces) * MAX_LINE :]
            self._continued = True
        self._partial = bytes(rest)
        if lines:
            self._console.emit(self, lines, continued)
        if rest:
            self._idle_timer()
        return self._console.accepting(self.target)

    def when_writable(self, callback: Resume) -> None:
        self._console.when_writable(self.target, callback)

    def _idle_timer(self) -> None:
        loop = self.target.loop
        if loop is None or loop.is_closed():
            return
        self._last = loop.time()
        if self._timer is None:
            self._timer = loop.call_later(IDLE_FLUSH, self._idle)

    def _idle(self) -> None:
        self._timer = None
        loop = self.target.loop
        if loop is None or not self._partial:
            return
        left = self._last + IDLE_FLUSH - loop.time()
        if left > 0.001:
            self._timer = loop.call_later(left, self._idle)
            return
        self._flush_partial()
        self._continued = True  # more of this line may follow

    def _flush_partial(self) -> None:
        if self._partial:
            line, self._partial = self._partial, b""
            self._console.emit(self, [line], [self._continued])

    def end(self) -> None:
        """The channel ended (the program exited): its last line goes out now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush_partial()
        self._continued = False

    def close(self) -> None:
        if not self.closed:
            self.end()
            self.closed = True
            self._console.forget(self)


_HALF = MAX_LINE // 2


def _no_long_line(buf: bytes, end: int) -> bool:
    """No line in buf[:end] is longer than MAX_LINE. Exact in that direction: a longer line
    would cover a whole aligned half-window, and each of those holds a newline (a few
    find() calls per chunk instead of a split)."""
    if end <= MAX_LINE:
        return True
    return all(buf.find(b"\n", a, a + _HALF) >= 0 for a in range(0, end - _HALF + 1, _HALF))


def _cut(lines: list[bytes], continued: list[bool] | None) -> tuple[list[bytes], list[bool]]:
    """Lines longer than MAX_LINE as pieces of it; each piece after a line's first is marked."""
    out: list[bytes] = []
    flags: list[bool] = []
    for i, line in enumerate(lines):
        first = continued[i] if continued is not None else False
        if len(line) <= MAX_LINE:
            out.append(line)
            flags.append(first)
            continue
        for j in range(0, len(line), MAX_LINE):
            out.append(line[j : j + MAX_LINE])
            flags.append(first if j == 0 else True)
    return out, flags
