"""An in-process Supervisor on a real loop with real children, for runtime tests."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from corral.config import load
from corral.logs.mainlog import MainLog
from corral.runtime.eventbus import Event, ProcessStateChanged
from corral.runtime.process import Process
from corral.runtime.supervisor import Supervisor
from corral.wire.states import ProcessState as S

WAIT = 30.0  # generous: a loaded 2-core machine may be slow, a condition ends the wait


class Harness:
    def __init__(self, tmp_path: Path, programs: str) -> None:
        conf = self.conf = tmp_path / "corral.conf"
        self.head = textwrap.dedent(f"""\
                [supervisord]
                logfile={tmp_path}/main.log
                childlogdir={tmp_path}
                loglevel=info
                """)
        self.write(programs)
        self.logpath = tmp_path / "main.log"
        self.log = MainLog(str(self.logpath), 0, 0, "info", echo=False)
        self.sup = Supervisor(load(str(conf)), self.log)
        self.events: list[ProcessStateChanged] = []

    def write(self, programs: str) -> None:
        self.conf.write_text(self.head + textwrap.dedent(programs))

    def _record(self, event: Event) -> None:
        assert isinstance(event, ProcessStateChanged)
        self.events.append(event)

    def proc(self, name: str) -> Process:
        _, proc = self.sup.find(name)
        assert proc is not None
        return proc

    def history(self, name: str) -> list[str]:
        """`STATE payload-tail` for each change of one process: what a listener sees."""
        out = []
        for e in self.events:
            if e.process == name:
                tail = e.payload.split(f"groupname:{e.group} ", 1)[1]
                out.append(f"{e.new.name} {tail}")
        return out

    def states(self, name: str) -> list[S]:
        return [e.new for e in self.events if e.process == name]

    def mainlog(self) -> str:
        return self.logpath.read_text()

    async def until(self, cond: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.02)

    def run(self, scenario: Callable[[Harness], Awaitable[None]]) -> None:
        async def main() -> None:
            loop = asyncio.get_running_loop()
            sup = self.sup
            sup.reaper.install(loop)
            sup.events.subscribe(["PROCESS_STATE"], self._record)
            for gconf in sup.config.groups:
                sup.activate(gconf)
            try:
                await scenario(self)
            finally:
                sup.state = sup.state.SHUTDOWN
                await sup.lifecycle.stop_all_ordered()
                for group in sup.groups():  # closed, kept for the assertions
                    group.close()
                sup.reaper.uninstall(loop)
                sup.spawner.close()
                self.log.close()

        asyncio.run(main())
