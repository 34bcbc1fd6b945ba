"""Spawning: what a child needs (environment, identity, the FastCGI socket), one spawn at a
time for a single start, and the asynchronous autostart scheduler for many.

A spawn job reads everything on the loop thread and then touches nothing shared, so jobs of
one priority level run side by side on a few worker threads; each outcome is handed back on
the loop, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import TYPE_CHECKING

from corral.runtime import readiness
from corral.runtime.notify import NotifyDir
from corral.runtime.spawn import (
    Identity,
    Spawned,
    SpawnFailure,
    child_environment,
    identity_for,
    spawn,
)
from corral.runtime.transitions import Ev
from corral.wire.states import ProcessState

if TYPE_CHECKING:
    from corral.runtime.group import Group
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

SPAWN_THREADS = 4
Job = Callable[[], Spawned]
Outcome = Spawned | SpawnFailure


def run_job(job: Job) -> Outcome:
    try:
        return job()
    except SpawnFailure as e:
        return e


def run_jobs(jobs: list[Job], pool: ThreadPoolExecutor | None) -> list[Outcome]:
    if pool is None or len(jobs) == 1:
        return [run_job(job) for job in jobs]
    return list(pool.map(run_job, jobs))


class Spawner:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self._identities: dict[int, Identity] = {}
        # while not None, SPAWN queues the job here instead of running it at once
        self._batch: list[tuple[Process, Job]] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._notify_dir: NotifyDir | None = None  # made for the first ready_check = notify

    def identity(self, uid: int | None) -> Identity | None:
        if uid is None:
            return None
        ident = self._identities.get(uid)
        if ident is None:
            ident = self._identities[uid] = identity_for(uid)
        return ident

    def child_env(self, proc: Process) -> dict[str, str]:
        sup = self.sup
        return child_environment(
            proc.config,
            proc.group,
            base=os.environ,
            daemon_env=sup.config.supervisord.environment,
            server_url=sup.server_url,
            identity=self.identity(proc.config.uid),
            daemon_files=sup.config.supervisord.environment_file,
        )

    def job(self, proc: Process) -> Job:
        """What to run to start proc's child. Everything is read now, on the loop thread;
        the environment dict is only built inside the job, so a batch of thousands never
        holds thousands of environments at once (freed memory stays in the daemon's RSS)."""
        cfg = proc.config
        identity = self.identity(cfg.uid)
        sock = self.sup.fcgi_socket_fd(proc.group)
        open_logs = self.sup.output.open_logs
        group = proc.group
        daemon_env = self.sup.config.supervisord.environment
        daemon_files = self.sup.config.supervisord.environment_file
        server_url = self.sup.server_url
        try:
            prep = readiness.prepare(proc, self.notify_dir)  # sockets and pipes: on the loop
        except OSError as e:
            message = f"can't set up ready_check for {cfg.name!r}: {e.strerror or e}"

            def failed() -> Spawned:
                raise SpawnFailure(message)

            return failed

        def job() -> Spawned:
            try:
                open_logs(proc)  # creating files is slow on some disks: worth doing side by side
                env = child_environment(
                    cfg,
                    group,
                    base=os.environ,
                    daemon_env=daemon_env,
                    server_url=server_url,
                    identity=identity,
                    daemon_files=daemon_files,
                )
                if prep is None:
                    return spawn(cfg, env, identity=identity, stdin_socket=sock)
                env.update(prep.env)
                return spawn(
                    readiness.spawn_config(cfg, env),
                    env,
                    identity=identity,
                    stdin_socket=sock,
                    pass_fds=prep.pass_fds,
                )
            finally:
                if prep is not None:
                    prep.release_child_ends()

        return job

    def notify_dir(self) -> NotifyDir:
        if self._notify_dir is None:
            self._notify_dir = NotifyDir()
        return self._notify_dir

    def spawn(self, proc: Process) -> None:
        """The SPAWN action: run the job now, or queue it in the batch being built."""
        job = self.job(proc)
        if self._batch is not None:
            self._batch.append((proc, job))
            return
        proc.spawn_done(run_job(job))

    async def autostart(self, groups: Iterable[Group]) -> None:
        """Start every autostart process (but those the operator stopped), one priority
        level after the other. A level's spawns run side by side while the loop waits (about
        a millisecond each, and clients never see a STARTING process without its pid);
        between levels the loop serves clients. Stops early when the daemon starts going
        away."""
        sup = self.sup
        todo = [
            p
            for g in sorted(groups, key=lambda g: (g.config.priority, g.name))
            for p in g.processes
            if p.config.autostart and not sup.is_held(p)
        ]
        await self.start_in_order(todo)

    async def start_in_order(self, todo: list[Process]) -> None:
        """Start the stopped ones of todo (in group priority order), a priority level at a
        time."""
        sup = self.sup
        first = True
        try:
            for _, procs in groupby(todo, key=sup.priority_level):
                if not first:
                    await asyncio.sleep(0)
                first = False
                if sup.stopping:
                    return
                with self.collect() as batch:
                    for proc in procs:
                        if proc.state == ProcessState.STOPPED:
                            proc.handle(Ev.START)
                self.run_collected(batch)
        finally:
            # idle worker threads are memory and a thread count that ps shows: none at rest
            self.close_pool()

    @contextlib.contextmanager
    def collect(self) -> Iterator[list[tuple[Process, Job]]]:
        """While open, SPAWN actions queue their jobs in the yielded batch."""
        batch: list[tuple[Process, Job]] = []
        self._batch = batch
        try:
            yield batch
        finally:
            self._batch = None

    def run_collected(self, batch: list[tuple[Process, Job]]) -> None:
        """Run a batch's jobs side by side, then hand each outcome back, in order."""
        if not batch:
            return
        if len(batch) > 1 and self._pool is None:
            self._pool = ThreadPoolExecutor(SPAWN_THREADS, thread_name_prefix="spawn")
        outcomes = run_jobs([job for _, job in batch], self._pool)
        for (proc, _), outcome in zip(batch, outcomes, strict=True):
            proc.spawn_done(outcome)

    def close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self) -> None:
        self.close_pool()
        if self._notify_dir is not None:
            self._notify_dir.remove()
            self._notify_dir = None
