"""`/api/v1/events`: Server-Sent Events of every process state change and health change.

While a client listens, a `stats` event (no id: not replayed) gives every running child's
CPU % and resident bytes every STATS_EVERY seconds, for the dashboard's columns.

The hub subscribes to the bus the first time a client connects (before that it costs
nothing) and keeps the last BACKLOG events with ids, so a client that reconnects with
`Last-Event-ID` gets what it missed; one whose id is older than the backlog gets a `reset`
event first (refetch /api/v1/processes, then follow). Each client has a bounded queue: one
that does not read is dropped, never the daemon's memory grown for it.

    event: state
    id: 42
    data: {"name": "web:web_00", "group": "web", "process": "web_00", "from": "STARTING",
           "to": "RUNNING", "pid": 123, "time": 1764000000.5}
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from corral.runtime.eventbus import Event, GroupChanged, ProcessStateChanged
from corral.server.connection import Request, Response
from corral.wire.names import make_namespec

if TYPE_CHECKING:
    from corral.runtime.eventbus import EventBus, Subscription

BACKLOG = 1000
CLIENT_QUEUE = 10_000  # events waiting for one client; past it the client is dropped
KEEPALIVE = 15.0  # a comment line this often, so proxies keep the stream open
RETRY_MS = 1000


STATS_EVERY = 2.0  # seconds between `stats` events, while a client listens


LogPaths = Callable[[str], list[tuple[str, str]]]  # namespec -> [(channel, log file)]


class EventHub:
    def __init__(
        self,
        bus: EventBus,
        stats: Callable[[], dict[str, list[float]]] | None = None,
        log_paths: LogPaths | None = None,
        health_watchers: list[Callable[[Any], None]] | None = None,
    ) -> None:
        self._bus = bus
        self._health_watchers = health_watchers
        self._stats = stats
        self._log_paths = log_paths
        self._stats_timer: asyncio.TimerHandle | None = None
        self._sub: Subscription | None = None
        self._next_id = 1
        self._backlog: deque[tuple[int, bytes]] = deque(maxlen=BACKLOG)
        self._clients: set[asyncio.Queue[bytes | None]] = set()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _ensure_subscribed(self) -> None:
        if self._sub is None:
            self._sub = self._bus.subscribe(("PROCESS_STATE", "PROCESS_GROUP"), self._on_event)
            if self._health_watchers is not None:
                self._health_watchers.append(self._on_health)
        if self._stats is not None and self._stats_timer is None:
            self._stats_timer = asyncio.get_running_loop().call_later(0.2, self._tick)

    def _tick(self) -> None:
        """CPU and memory per process, only while someone listens (not kept: no id)."""
        self._stats_timer = None
        if not self._clients or self._stats is None:
            return
        text = json.dumps(self._stats(), separators=(",", ":"))
        frame = f"event: stats\ndata: {text}\n\n".encode()
        for queue in list(self._clients):
            if queue.qsize() < CLIENT_QUEUE:
                queue.put_nowait(frame)
        self._stats_timer = asyncio.get_running_loop().call_later(STATS_EVERY, self._tick)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ProcessStateChanged):
            kind = "state"
            data: dict[str, object] = {
                "name": make_namespec(event.group, event.process),
                "group": event.group,
                "process": event.process,
                "from": event.old.name,
                "to": event.new.name,
                "pid": event.pid,
                "time": round(time.time(), 3),
            }
        elif isinstance(event, GroupChanged):
            kind = "group"
            data = {"group": event.group, "added": event.added, "time": round(time.time(), 3)}
        else:
            return
        self.push(kind, data)

    def _on_health(self, proc: Any) -> None:
        watch = proc.watch
        self.push(
            "health",
            {
                "name": proc.namespec,
                "group": proc.group,
                "process": proc.name,
                "health": watch.health if watch is not None else "unknown",
                "detail": watch.health_detail if watch is not None else "",
                "time": round(time.time(), 3),
            },
        )

    def push(self, kind: str, data: dict[str, object]) -> None:
        event_id = self._next_id
        self._next_id += 1
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        frame = f"event: {kind}\nid: {event_id}\ndata: {text}\n\n".encode()
        self._backlog.append((event_id, frame))
        for queue in list(self._clients):
            if queue.qsize() >= CLIENT_QUEUE:
                self._clients.discard(queue)
                queue.put_nowait(None)  # too far behind: ended; it reconnects with its id
            else:
                queue.put_nowait(frame)

    def stream(self, request: Request, query: dict[str, list[str]]) -> Response:
        self._ensure_subscribed()
        last = request.headers.get("last-event-id") or (query.get("lastEventId") or [""])[-1]
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        head = [f"retry: {RETRY_MS}\n\n".encode()]
        if last.strip().isdigit():
            seen = int(last)
            oldest = self._backlog[0][0] if self._backlog else self._next_id
            if seen + 1 < oldest:
                head.append(b"event: reset\ndata: {}\n\n")  # missed more than we kept
            head += [frame for event_id, frame in self._backlog if event_id > seen]
        follows: list[tuple[str, str, str]] = []
        for name in query.get("log", []):
            if self._log_paths is not None:
                follows += [(name, ch, path) for ch, path in self._log_paths(name)]
        self._clients.add(queue)
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
        return Response(200, headers=headers, stream=_Client(self, queue, head, follows))

    def forget(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._clients.discard(queue)

    def close(self) -> None:
        if self._stats_timer is not None:
            self._stats_timer.cancel()
            self._stats_timer = None
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
            if self._health_watchers is not None and self._on_health in self._health_watchers:
                self._health_watchers.remove(self._on_health)
        for queue in list(self._clients):
            queue.put_nowait(None)
        self._clients.clear()


class _Client:
    """One open stream: what it missed first, then live frames and keep-alive comments."""

    def __init__(
        self,
        hub: EventHub,
        queue: asyncio.Queue[bytes | None],
        head: list[bytes],
        follows: list[tuple[str, str, str]],
    ) -> None:
        self._hub = hub
        self._queue = queue
        self._head = b"".join(head)
        self._follows = follows
        self._tasks: list[asyncio.Task[None]] = []
        self._gen: AsyncGenerator[bytes, None] | None = None

    def __aiter__(self) -> _Client:
        return self

    async def __anext__(self) -> bytes:
        if self._gen is None:
            self._gen = self._frames()
        return await anext(self._gen)

    async def _log(self, name: str, channel: str, path: str) -> None:
        """`log` events (no id: not replayed) with what the process writes from now on."""
        from corral.logs.tail import LogReadError, follow

        try:
            async for chunk in follow(path, 0):
                if self._queue.qsize() >= CLIENT_QUEUE:
                    continue  # this client is far behind: its log lines are skipped
                data = {"name": name, "channel": channel, "text": chunk.decode("utf-8", "replace")}
                text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
                self._queue.put_nowait(f"event: log\ndata: {text}\n\n".encode())
        except LogReadError:
            return  # no log file (NONE, or not written yet)

    async def _frames(self) -> AsyncGenerator[bytes, None]:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._log(*f)) for f in self._follows]
        try:
            if self._tasks:
                await asyncio.sleep(0)  # the logs are open (at their end) before we say so
            yield self._head
            while True:
                try:
                    frame = await asyncio.wait_for(self._queue.get(), KEEPALIVE)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if frame is None:
                    return
                chunk = [frame]
                while not self._queue.empty():  # what came meanwhile, in one write
                    more = self._queue.get_nowait()
                    if more is None:
                        yield b"".join(chunk)
                        return
                    chunk.append(more)
                yield b"".join(chunk)
        finally:
            self._hub.forget(self._queue)
            for task in self._tasks:
                task.cancel()

    async def aclose(self) -> None:
        self._hub.forget(self._queue)
        if self._gen is not None:
            await self._gen.aclose()
