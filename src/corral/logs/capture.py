"""Child pipes on the event loop: output into log sinks, input from sendProcessStdin.

OutputPump reads one child stdout/stderr pipe with `loop.add_reader` (no threads,
no polling). The common case, a plain log file with no listeners on the bytes,
moves data with splice(2) straight from the pipe into the file. Every other case
reads chunks of up to 128 KiB and hands them, in order, to the sinks (sink.py) and
`on_data`. A sink that holds bytes (a full pipe, a fifo without a reader) makes the
pump stop reading until the sink calls back: the child blocks on its own full pipe,
the loop never does, and what is held stays within one read per pump. A regular
file is written synchronously, so a child writing faster than the disk is held back
the same way. Nothing is dropped, except what a failing target refuses (said once
per episode through on_error, counted through on_recover).

Optional capture mode (surface 3.4): output between the XSUPERVISOR tokens is
diverted from the log file to `on_capture` as one body. Unlike Supervisor, a
held-back partial token is flushed to the log at EOF instead of being lost.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import re
from collections.abc import Callable, Sequence

from corral.logs.rotating import RotatingFile
from corral.logs.sink import Dropped, Sink

__all__ = [
    "BEGIN_TOKEN",
    "CHUNK",
    "END_TOKEN",
    "AnsiStripper",
    "CaptureSplitter",
    "InputPipe",
    "OutputPump",
    "StdinClosedError",
    "strip_ansi",
]

CHUNK = 128 * 1024
_CHUNKS_PER_WAKEUP = 8
# One read buffer for every pump (they all run on the loop thread): os.read would allocate
# 128 KiB for each read and shrink it, growing and trimming the heap (brk) every time.
_READ_BUF = bytearray(CHUNK)
_READ_VIEW = memoryview(_READ_BUF)
_READ_INTO = [_READ_BUF]
_BIG_PIPE = 1024 * 1024
_PIPE_SIZE = 64 * 1024  # Linux's default
# How long a busy pipe's output may wait so that it is read in larger pieces (_on_readable)
COALESCE = 0.005
# ...but only for a pipe whose wake-ups read less than this: bigger reads already carry their
# wake-up, and a bulk writer put on the timer paid more CPU per MB, not less (bench: 1.14x)
_COALESCE_BELOW = 16 * 1024
# What drain() may still read while a sink holds bytes: a full pipe's worth, what the
# child wrote before it exited.
_DRAIN_HELD_MAX = _BIG_PIPE
BEGIN_TOKEN = b"<!--XSUPERVISOR:BEGIN-->"
END_TOKEN = b"<!--XSUPERVISOR:END-->"

_HAS_SPLICE = hasattr(os, "splice")
_SPLICE_FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)
_NO_SPLICE_ERRNOS = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF, errno.EXDEV}

# ESC [ ... up to and including the first of Supervisor's terminator letters.
_TERMINATORS = b"HfABCDRsuJKhlpm"
_ANSI_RE = re.compile(rb"\x1b\[[^" + _TERMINATORS + rb"]*[" + _TERMINATORS + rb"]")
_ANSI_TAIL_RE = re.compile(rb"\x1b(?:\[[^" + _TERMINATORS + rb"]*)?\Z")
_ANSI_HOLD_MAX = 64


def strip_ansi(data: bytes) -> bytes:
    """Remove complete `ESC [ ... <terminator>` sequences from one buffer."""
    return _ANSI_RE.sub(b"", data)


class AnsiStripper:
    """strip_ansi across chunk boundaries: an unfinished sequence at the end of a
    chunk is held back (up to 64 bytes) until the next chunk completes it."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self._held:
            data = self._held + data
            self._held = b""
        out = _ANSI_RE.sub(b"", data)
        m = _ANSI_TAIL_RE.search(out)
        if m is not None:
            tail = out[m.start() :]
            out = out[: m.start()]
            # Longer than any real sequence: drop it, as an unterminated
            # sequence is dropped by Supervisor too.
            if len(tail) <= _ANSI_HOLD_MAX:
                self._held = tail
        return out

    def flush(self) -> bytes:
        # An escape left unfinished at EOF is stripped, never logged.
        self._held = b""
        return b""


def _partial_suffix(data: bytes, token: bytes) -> int:
    """Length of the longest proper prefix of `token` that ends `data`."""
    for n in range(min(len(token) - 1, len(data)), 0, -1):
        if data.endswith(token[:n]):
            return n
    return 0


class CaptureSplitter:
    """Splits output into logged and captured segments (capture mode, 3.4).

    feed() returns (segments, bodies): segments are (captured, bytes) pairs in
    stream order (all of them are "output" for log events; only the uncaptured
    ones go to the log file); bodies are completed captures, each bounded to the
    last `maxbytes` bytes."""

    def __init__(self, maxbytes: int) -> None:
        self.maxbytes = maxbytes
        self._pending = b""
        self._capturing = False
        self._body = bytearray()

    @property
    def capturing(self) -> bool:
        return self._capturing

    def feed(self, data: bytes) -> tuple[list[tuple[bool, bytes]], list[bytes]]:
        segments: list[tuple[bool, bytes]] = []
        bodies: list[bytes] = []
        buf = self._pending + data
        self._pending = b""
        while buf:
            token = END_TOKEN if self._capturing else BEGIN_TOKEN
            idx = buf.find(token)
            if idx < 0:
                keep = _partial_suffix(buf, token)
                head, self._pending = (buf[:-keep], buf[-keep:]) if keep else (buf, b"")
                self._emit(head, segments)
                break
            self._emit(buf[:idx], segments)
            buf = buf[idx + len(token) :]
            if self._capturing:
                bodies.append(bytes(self._body))
                self._body.clear()
            self._capturing = not self._capturing
        return segments, bodies

    def _emit(self, data: bytes, segments: list[tuple[bool, bytes]]) -> None:
        if not data:
            return
        segments.append((self._capturing, data))
        if self._capturing:
            self._body += data
            over = len(self._body) - self.maxbytes
            if over > 0:
                del self._body[:over]

    def flush(self) -> bytes:
        """At EOF: whatever was held back or never finished goes to the log."""
        out = (BEGIN_TOKEN + bytes(self._body) if self._capturing else b"") + self._pending
        self._pending = b""
        self._body.clear()
        self._capturing = False
        return out


class OutputPump:
    """Moves one child output pipe into its sinks (a RotatingFile, or nowhere) and callbacks.

    on_data gets every chunk of output in order (after strip_ansi), captured or
    not: log events and the debug copy to the main log hang off it. `sink` (the log
    file) and `sinks` (more Sinks: syslog lines, the console...) get what is logged:
    with capture_maxbytes > 0, text between the XSUPERVISOR tokens skips them and
    each finished capture goes to on_capture. on_error is told (once per run of
    failures) when a sink cannot be written, and on_recover the bytes lost when one
    can again; the pipe keeps draining meanwhile.
    """

    def __init__(
        self,
        fd: int,
        sink: Sink | None,
        *,
        on_eof: Callable[[], None],
        on_data: Callable[[bytes], None] | None = None,
        strip_ansi: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        capture_maxbytes: int = 0,
        on_capture: Callable[[bytes], None] | None = None,
        on_error: Callable[[OSError], None] | None = None,
        on_end: Callable[[], None] | None = None,
        on_recover: Callable[[int], None] | None = None,
        sinks: Sequence[Sink] = (),
        channel: str = "",
    ) -> None:
        self._fd = fd
        self.channel = channel  # 'stdout' or 'stderr', for whoever re-routes it
        self._on_recover = on_recover  # told the bytes lost when the sink takes writes again
        self._lost = 0
        self._on_end = on_end  # told once, at EOF or close: flush what waits for more data
        self._on_error = on_error
        self._sink_failing = False
        self._splice_ok = _HAS_SPLICE
        self._sink = sink
        self._outs: list[Sink] = ([sink] if sink is not None else []) + list(sinks)
        self._held_by: list[Sink] = []  # sinks holding our bytes: not reading until they call
        self._on_eof = on_eof
        self._on_data = on_data
        self._taps: list[Callable[[bytes], None]] = []  # short-lived readers (a ready check)
        self._strip = AnsiStripper() if strip_ansi else None
        self._capture = CaptureSplitter(capture_maxbytes) if capture_maxbytes > 0 else None
        self._on_capture = on_capture
        self._loop = loop
        self._started = False
        self._reading = False
        self._eof = False
        self._closed = False
        self._grown = False
        self._pipe_size = _PIPE_SIZE
        self._woken = 0.0  # loop time of the last wake-up by the selector
        self._tick: asyncio.TimerHandle | None = None  # the timer reading a busy pipe
        self.spliced = 0  # bytes moved by splice(2), for tests and the curious
        self.taken = 0  # every byte read from the pipe (spliced or not), for /metrics
        os.set_blocking(fd, False)

    @property
    def eof(self) -> bool:
        return self._eof

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def held(self) -> bool:
        """A sink holds our bytes: the pipe is not read (the child is back-pressured)."""
        return bool(self._held_by)

    def _zero_copy(self) -> bool:
        sink = self._sink
        return (
            self._splice_ok
            and self._on_data is None
            and not self._taps
            and self._strip is None
            and self._capture is None
            and isinstance(sink, RotatingFile)
            and len(self._outs) == 1
            and sink.is_regular
            and not sink.closed
        )

    def start(self) -> None:
        self._started = True
        if self._reading or self._tick or self._closed or self._eof or self._held_by:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        loop.add_reader(self._fd, self._on_readable)
        self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self._loop is not None:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _stop_ticking(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None

    def close(self) -> None:
        """Stop reading and close the pipe (idempotent). Does not call on_eof."""
        if self._closed:
            return
        self._stop_reading()
        self._stop_ticking()
        self._closed = True
        if self._on_end is not None:
            self._on_end()
        try:
            os.close(self._fd)
        except OSError:
            pass

    def retarget(
        self,
        sink: Sink | None,
        *,
        sinks: Sequence[Sink] = (),
        on_data: Callable[[bytes], None] | None = None,
        on_end: Callable[[], None] | None = None,
        capture_maxbytes: int = 0,
    ) -> None:
        """New consumers for a pipe that stays open (update changed a live output key):
        the old ones finish what waits in them (a partial line) first."""
        if self._closed or self._eof:
            return
        if self._on_end is not None:
            self._on_end()
        if self._capture is not None and capture_maxbytes <= 0:
            rest = self._capture.flush()
            self._capture = None
            self._out(rest, logged=True)
        elif capture_maxbytes > 0:
            if self._capture is None:
                self._capture = CaptureSplitter(capture_maxbytes)
            else:
                self._capture.maxbytes = capture_maxbytes
        self._sink = sink
        self._outs = ([sink] if sink is not None else []) + list(sinks)
        self._on_data = on_data
        self._on_end = on_end
        self._held_by = [s for s in self._held_by if any(s is o for o in self._outs)]
        if not self._held_by and self._started:
            self.start()

    def drain(self) -> None:
        """Read whatever is buffered right now, until EAGAIN or EOF (process exited).

        A grandchild still holding the pipe open stops the drain at EAGAIN; a sink
        holding bytes stops it after one pipe's worth more (the rest is read once the
        sink takes bytes again)."""
        budget = _DRAIN_HELD_MAX
        while not self._eof and not self._closed:
            if self._held_by and budget <= 0:
                return
            n = self._pump_once()
            if not n:
                return
            if self._held_by:
                budget -= n

    def _take(self) -> int:
        """Read what the pipe holds: the bytes taken, or -1 when it kept refilling."""
        # A fast writer refills the pipe while we work: take a few chunks, but not
        # unboundedly, so one chatty child cannot starve the others.
        total = 0
        for _ in range(_CHUNKS_PER_WAKEUP):
            n = self._pump_once()
            total += n
            # less than asked for: the pipe is empty now, and another read would only
            # say EAGAIN (a system call and an exception per wake-up, for nothing)
            if not n or self._held_by or n < CHUNK:
                return total
        self._grow_pipe()
        return -1

    def _on_readable(self) -> None:
        total = self._take()
        if total <= 0 or self._held_by or self._eof or self._closed:
            return
        # A child that writes a line at a time wakes us for every few lines, and most of
        # the cost of a read is the wake-up, not the bytes. Woken twice within COALESCE,
        # each time for a small read, the pipe is read on a timer instead until it goes
        # quiet: each read then takes COALESCE's worth of output (a line waits at most that
        # long).
        assert self._loop is not None
        now = self._loop.time()
        last, self._woken = self._woken, now
        if now - last < COALESCE and total < _COALESCE_BELOW:
            self._stop_reading()
            self._tick = self._loop.call_later(COALESCE, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        if self._closed or self._eof or self._held_by:
            return  # a release of the hold starts reading again
        total = self._take()
        if self._closed or self._eof or self._held_by or self._reading:
            return  # (reading: a hold was released during the read, which started it)
        if 0 < total < self._pipe_size // 2:
            assert self._loop is not None
            self._tick = self._loop.call_later(COALESCE, self._on_tick)
            return
        # quiet now, or writing faster than the timer reads: back to reading at once (where
        # a writer that keeps the pipe full gets a bigger one)
        self._woken = 0.0
        self.start()

    def _grow_pipe(self) -> None:
        """A child that keeps the pipe full gets a bigger one: fewer wake-ups per MB."""
        if self._grown:
            return
        self._grown = True
        try:
            self._pipe_size = fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, _BIG_PIPE)
        except (OSError, AttributeError):
            pass  # over the user's pipe-buffer quota, or not Linux: the default pipe works

    # -- back-pressure ------------------------------------------------------------------

    def _hold(self, sink: Sink) -> None:
        if any(s is sink for s in self._held_by):
            return
        self._held_by.append(sink)
        self._stop_reading()
        sink.when_writable(lambda dropped: self._released(sink, dropped))

    def _released(self, sink: Sink, dropped: Dropped | None) -> None:
        self._held_by = [s for s in self._held_by if s is not sink]
        if dropped is not None:
            self._lost += dropped.nbytes
            self._report(dropped.error)
        if not self._held_by and self._started:
            self.start()

    def _pump_once(self) -> int:
        """One read or splice: the bytes taken, 0 when the pipe is empty (EAGAIN) or ended."""
        if self._closed or self._eof:
            return 0
        if self._zero_copy():
            got = self._splice_once()
            if got is not None:
                return got
        try:
            n = os.readv(self._fd, _READ_INTO)
            data = _READ_VIEW[:n].tobytes()
        except BlockingIOError:
            return 0
        except OSError:
            # EIO: the other side of a pty is gone; anything else would make us
            # spin on a broken fd. Either way this stream has ended.
            data = b""
        if not data:
            self._hit_eof()
            return 0
        self.taken += len(data)
        self._deliver(data)
        return len(data)

    def _splice_once(self) -> int | None:
        """Pipe -> file with splice(2). None means 'fall back to read/write'."""
        sink = self._sink
        assert isinstance(sink, RotatingFile)
        try:
            room = sink.prepare_external_write()
            # Stop at the rotation boundary so a file never exceeds maxbytes here.
            count = _BIG_PIPE if room < 0 else max(1, min(_BIG_PIPE, room))
            n = os.splice(self._fd, sink.fileno(), count, flags=_SPLICE_FLAGS)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in _NO_SPLICE_ERRNOS:
                self._splice_ok = False
            # Otherwise (disk full...) take this chunk through read/write, which
            # consumes it from the pipe and reports the error.
            return None
        if n == 0:
            self._hit_eof()
            return 0
        self.spliced += n
        self.taken += n
        try:
            sink.after_external_write(n)
        except OSError as exc:
            self._report(exc)
        else:
            self._recovered()
        return n

    def _deliver(self, data: bytes) -> None:
        if self._strip is not None:
            data = self._strip.feed(data)
        if self._capture is None:
            self._out(data, logged=True)
            return
        segments, bodies = self._capture.feed(data)
        for captured, seg in segments:
            self._out(seg, logged=not captured)
        if self._on_capture is not None:
            for body in bodies:
                self._on_capture(body)

    def _out(self, data: bytes, *, logged: bool) -> None:
        if not data:
            return
        if logged and self._outs:
            failed: OSError | None = None
            for sink in self._outs:
                if sink.closed:
                    continue
                try:
                    taken = sink.write(data)
                except OSError as exc:
                    failed = exc
                    continue
                if taken is False:
                    self._hold(sink)
            if failed is not None:
                # Keep draining the pipe (the child must not block) and say so once.
                self._lost += len(data)
                self._report(failed)
            else:
                self._recovered()
        if self._on_data is not None:
            self._on_data(data)
        for tap in tuple(self._taps):  # a tap may remove itself
            tap(data)

    def tap(self, reader: Callable[[bytes], None]) -> Callable[[], None]:
        """Also give every chunk to reader until the returned remover is called (the pipe
        is read, not spliced, meanwhile)."""
        self._taps.append(reader)

        def remove() -> None:
            if reader in self._taps:
                self._taps.remove(reader)

        return remove

    def _recovered(self) -> None:
        if self._sink_failing:
            self._sink_failing = False
            lost, self._lost = self._lost, 0
            if self._on_recover is not None:
                self._on_recover(lost)

    def _report(self, exc: OSError) -> None:
        if not self._sink_failing:
            self._sink_failing = True
            if self._on_error is not None:
                self._on_error(exc)

    def _hit_eof(self) -> None:
        if self._eof:
            return
        self._eof = True
        if self._strip is not None:
            self._strip.flush()
        if self._capture is not None:
            self._out(self._capture.flush(), logged=True)
        self.close()
        self._on_eof()


class StdinClosedError(BrokenPipeError):
    """The child's stdin is closed (sendProcessStdin answers NO_FILE)."""


class InputPipe:
    """The child's stdin: writes are queued and flushed when the pipe is writable."""

    def __init__(self, fd: int, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._fd = fd
        self._loop = loop
        self._buf = bytearray()
        self._writing = False
        self._closed = False
        os.set_blocking(fd, False)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending(self) -> int:
        """Bytes queued but not yet accepted by the pipe."""
        return len(self._buf)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise StdinClosedError(errno.EPIPE, "Process has no stdin channel")
        self._buf += data
        self._flush()
        if self._closed:
            raise StdinClosedError(errno.EPIPE, "Broken pipe")
        if self._buf and not self._writing:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.add_writer(self._fd, self._on_writable)
            self._writing = True

    def _flush(self) -> None:
        while self._buf:
            try:
                n = os.write(self._fd, self._buf)
            except BlockingIOError:
                return
            except OSError:
                # EPIPE (child closed its stdin or exited) or a dead fd.
                self.close()
                return
            del self._buf[:n]

    def _on_writable(self) -> None:
        self._flush()
        if not self._buf and self._writing and self._loop is not None:
            self._writing = False
            self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._buf.clear()
        if self._writing and self._loop is not None:
            self._writing = False
            self._loop.remove_writer(self._fd)
        try:
            os.close(self._fd)
        except OSError:
            pass
