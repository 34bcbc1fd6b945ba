"""4.3's result ordering for calls over many processes (start/stop/signal a group or all)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from corral.api.describe import result_struct
from corral.runtime.errors import RuntimeFault
from corral.wire.faults import FaultCode, fault_string

if TYPE_CHECKING:
    from corral.runtime.process import Process as ProcessLike

# How far apart 4.3's passes over pending group/all calls are (its deferred poll delay).
_POLL_PASS = 0.05


async def each_in_4_3_order(
    procs: list[ProcessLike], op: Callable[[ProcessLike], Awaitable[object]]
) -> list[dict[str, Any]]:
    """Run op on every process at once; a ResultStruct per process.

    Order as 4.3 reports it. 4.3 makes a first pass over the list (what fails at once,
    or needs no waiting, is reported there), then polls the pending calls in a pass
    every 0.05 s or so: results come pass by pass, in list order within a pass. So a
    fast finisher does not jump ahead of those ending at about the same time, and a
    slow stop (SIGKILL after stopwaitsecs) comes last. Nothing polls here: each
    result is put in the pass of the time it came in.
    """
    loop = asyncio.get_running_loop()
    done: list[tuple[int, int, dict[str, Any]]] = []
    first_pass = True
    passes = 0
    pass_start = 0.0

    def end_of_first_pass() -> None:
        nonlocal first_pass
        first_pass = False

    def pass_now() -> int:
        nonlocal passes, pass_start
        if first_pass:
            return 0
        now = loop.time()
        if not passes or now - pass_start > _POLL_PASS:
            passes, pass_start = passes + 1, now
        return passes

    async def one(index: int, proc: ProcessLike) -> None:
        try:
            await op(proc)
        except RuntimeFault as exc:
            code = exc.code
            result = dict(result_struct(proc, code, fault_string(code, exc.detail)))
        except Exception as exc:  # one broken process must not lose the others' results
            text = fault_string(FaultCode.FAILED, f"{type(exc)!s}:{exc}")
            result = dict(result_struct(proc, FaultCode.FAILED, text))
        else:
            result = dict(result_struct(proc, FaultCode.SUCCESS, "OK"))
        done.append((pass_now(), index, result))

    # Each task's first step runs before this callback: tasks are scheduled in order.
    tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(procs)]
    loop.call_soon(end_of_first_pass)
    await asyncio.gather(*tasks)
    return [result for _, _, result in sorted(done, key=lambda r: (r[0], r[1]))]
