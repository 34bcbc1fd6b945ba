"""RFC 3339 times for log lines, and `log_timestamps`: a time in front of every line a
program writes to its log files.

The time is taken when a line's first bytes arrive, so a line written in pieces keeps the
time it began; nothing is buffered (a prompt without a newline reaches the file at once).
"""

from __future__ import annotations

import time

from corral.logs.sink import Resume, Sink

__all__ = ["StampedSink", "rfc3339"]

_cache: tuple[int, str, str] = (-1, "", "")  # (second, "YYYY-MM-DDTHH:MM:SS", "+hh:mm")


def rfc3339(now: float | None = None) -> str:
    """Local time with milliseconds and the UTC offset: 2026-12-03T08:51:00.123+00:00."""
    global _cache
    if now is None:
        now = time.time()
    second = int(now)
    if second != _cache[0]:
        # one strftime per second: thousands of lines a second share it
        tm = time.localtime(second)
        off = tm.tm_gmtoff
        sign = "+" if off >= 0 else "-"
        off = abs(off)
        zone = f"{sign}{off // 3600:02d}:{off % 3600 // 60:02d}"
        _cache = (second, time.strftime("%Y-%m-%dT%H:%M:%S", tm), zone)
    millis = int((now - second) * 1000)
    return f"{_cache[1]}.{millis:03d}{_cache[2]}"


class StampedSink:
    """Wraps a channel's log file: every line gets `<time> ` in front. Closing this sink
    leaves the file open (a process keeps its log file across runs)."""

    def __init__(self, target: Sink) -> None:
        self._target = target
        self._at_line_start = True
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self._target.closed

    def write(self, data: bytes) -> bool:
        if not data:
            return True
        parts: list[bytes] = []
        stamp = b""
        start = 0
        end = len(data)
        while start < end:
            if self._at_line_start:
                if not stamp:
                    stamp = rfc3339().encode() + b" "
                parts.append(stamp)
            nl = data.find(b"\n", start)
            if nl < 0:
                parts.append(data[start:])
                self._at_line_start = False
                break
            parts.append(data[start : nl + 1])
            self._at_line_start = True
            start = nl + 1
        return self._target.write(b"".join(parts))

    def when_writable(self, callback: Resume) -> None:
        self._target.when_writable(callback)

    def end_line(self) -> None:
        """The run ended inside a line: finish it, so the next run's first line gets its
        own time."""
        if not self._at_line_start and not self.closed:
            self._at_line_start = True
            try:
                self._target.write(b"\n")
            except OSError:
                pass

    def close(self) -> None:
        self.end_line()
        self._closed = True
