"""Dict shapes returned over XML-RPC (keys and order fixed by compatibility)."""

from __future__ import annotations

from typing import TypedDict

# XML-RPC ints are 32-bit; Supervisor caps timestamps to this range.
MAXINT = 2**31 - 1


def capped(value: float) -> int:
    return max(-MAXINT, min(int(value), MAXINT))


class ProcessInfo(TypedDict):
    name: str
    group: str
    description: str
    start: int
    stop: int
    now: int
    state: int
    statename: str
    spawnerr: str
    exitstatus: int
    logfile: str
    stdout_logfile: str
    stderr_logfile: str
    pid: int


class ResultStruct(TypedDict):
    name: str
    group: str
    status: int
    description: str
