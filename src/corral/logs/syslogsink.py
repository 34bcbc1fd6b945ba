"""`*_syslog=true`: a child's output to syslog, one message per line, `<process_name> <line>`."""

from __future__ import annotations

import syslog

from corral.logs.sink import Resume

_opened = False


def send(priority: int, text: str) -> None:
    """One syslog message from corrald (the ident is ours, not argv[0]'s basename, which
    is 'main.py' under `python -m`)."""
    global _opened
    if not _opened:
        syslog.openlog("corrald")
        _opened = True
    syslog.syslog(priority, text)


class SyslogLines:
    """Whole lines only: a line split across reads is one message; `end()` sends the rest.

    A Sink (write/when_writable/close) as well as an on_data callable. syslog(3) itself
    is a blocking send on /dev/log: a syslogd that stops reading is outside what
    back-pressure here can cover."""

    def __init__(self, process_name: str) -> None:
        self._name = process_name
        self._partial = b""
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __call__(self, data: bytes) -> None:
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._send(line)

    def write(self, data: bytes) -> bool:
        self(data)
        return True

    def when_writable(self, callback: Resume) -> None:
        callback(None)

    def end(self) -> None:
        """The pipe is done with: a last line without a newline is still a line."""
        if self._partial:
            self._send(self._partial)
            self._partial = b""

    def close(self) -> None:
        self.end()
        self._closed = True

    def _send(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        send(syslog.LOG_INFO, f"{self._name} {text}")
