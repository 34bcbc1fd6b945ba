"""Group and all-process calls answer their ResultStructs in the order 4.3 does.

4.3 reports what fails at once in its first pass over the list, then polls the pending
calls in passes about 0.05 s apart, in list order within a pass. So the slow stop of a
program that ignores SIGTERM comes last (golden 'stopAllProcesses'), while those ending
together keep list order (golden 'startAllProcesses', 'system.multicall deferred').
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from corral.api.ordering import each_in_4_3_order
from corral.runtime.errors import NotRunning
from tests.support import run_in_virtual_time


@dataclass
class Proc:
    name: str
    group: str
    delay: float  # how long the operation takes; < 0: it fails at once


async def operate(proc: Any) -> None:
    if proc.delay < 0:
        raise NotRunning(proc.name)
    await asyncio.sleep(proc.delay)


def order(*procs: Proc) -> list[tuple[str, int]]:
    # virtual time: each operation ends exactly at its delay, however loaded the machine (on
    # a real clock a late loop puts results that end close together in different passes)
    results = run_in_virtual_time(each_in_4_3_order(list(procs), operate))
    return [(r["name"], r["status"]) for r in results]


def test_a_slow_finisher_comes_last_even_when_listed_first() -> None:
    got = order(Proc("stubborn", "s", 0.3), Proc("app", "a", 0.0), Proc("echo", "e", 0.01))
    assert got == [("app", 80), ("echo", 80), ("stubborn", 80)]


def test_failures_at_once_come_first_then_the_rest_in_list_order() -> None:
    got = order(
        Proc("b", "g", 0.02),
        Proc("a", "g", 0.0),
        Proc("bad", "g", -1),
        Proc("c", "g", 0.01),
    )
    assert got == [("bad", 70), ("b", 80), ("a", 80), ("c", 80)]


def test_finishers_in_different_passes_keep_their_pass_order() -> None:
    got = order(Proc("late", "g", 0.25), Proc("early", "g", 0.0), Proc("mid", "g", 0.12))
    assert got == [("early", 80), ("mid", 80), ("late", 80)]
