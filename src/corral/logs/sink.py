"""The one interface a channel's bytes go through: a Sink.

A channel (one program's stdout or stderr) is read by an OutputPump and written to
any number of sinks: its log file (a RotatingFile), syslog lines, and next the
console and a crash ring buffer. A sink never blocks the loop. When its target
cannot take bytes now (a full pipe, a fifo without a reader) it keeps them and
says so: `write` returns False, and the producer stops until `when_writable`
calls back. The producer (the pump) then stops reading the program's pipe, so
the back-pressure reaches the program, never the daemon, and nothing held grows
past one read per producer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["CallbackSink", "Dropped", "Resume", "Sink", "SpliceTarget"]


@dataclass(frozen=True)
class Dropped:
    """Bytes a sink held and then had to give up (its target failed while they waited)."""

    error: OSError
    nbytes: int


# Told once the held bytes are out (None) or given up (Dropped).
Resume = Callable[[Dropped | None], None]


@runtime_checkable
class Sink(Protocol):
    @property
    def closed(self) -> bool: ...

    def write(self, data: bytes) -> bool:
        """Take all of `data`. True: send more whenever. False: the sink holds bytes its
        target would not take yet; send nothing more until `when_writable` calls back.
        OSError: these bytes are lost (the caller counts and reports them)."""
        ...

    def when_writable(self, callback: Resume) -> None:
        """Call `callback` once, when nothing of ours is held any more."""
        ...

    def close(self) -> None: ...


class SpliceTarget(Sink, Protocol):
    """A sink that splice(2) can write into directly: a regular file."""

    @property
    def is_regular(self) -> bool: ...

    def fileno(self) -> int: ...

    def prepare_external_write(self) -> int: ...

    def after_external_write(self, n: int) -> None: ...


class CallbackSink:
    """A callable as a sink (events, a listener's protocol, the debug copy): it takes
    everything at once and never holds; `end` is called at close."""

    def __init__(
        self, callback: Callable[[bytes], None], end: Callable[[], None] | None = None
    ) -> None:
        self._callback = callback
        self._end = end
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, data: bytes) -> bool:
        self._callback(data)
        return True

    def when_writable(self, callback: Resume) -> None:
        callback(None)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._end is not None:
                self._end()
