"""Owned tasks: every task the daemon starts belongs to an owner that cancels and awaits it
when its subsystem ends (a config generation, the daemon), so nothing outlives what it
belongs to and no exception is silently lost."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from corral.logs.mainlog import MainLog


class TaskOwner:
    def __init__(self, name: str, log: MainLog) -> None:
        self.name = name
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any] | None:
        """Run coro as a task of this owner; None (and coro closed) once the owner is closed."""
        if self._closed:
            coro.close()
            return None
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._log.critical(f"task {task.get_name()} failed: {exc!r}")

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait until each has ended."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)  # their errors were logged by _done
