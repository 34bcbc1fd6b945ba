"""`*_syslog=true`: a child's output to syslog, one message per line, `<process_name> <line>`."""

from __future__ import annotations

import syslog


class SyslogLines:
    def __init__(self, process_name: str) -> None:
        self._name = process_name
        self._partial = b""

    def __call__(self, data: bytes) -> None:
        if not data:  # EOF: flush what is left of a last unterminated line
            if self._partial:
                self._send(self._partial)
                self._partial = b""
            return
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            self._send(line)

    def _send(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        syslog.syslog(syslog.LOG_INFO, f"{self._name} {text}")
