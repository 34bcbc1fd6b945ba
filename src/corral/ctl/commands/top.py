"""`corralctl top`: a live terminal view (curses), like `pm2 monit`: every process with state,
pid, uptime, CPU, memory and restarts, redrawn every second in place. Keys: up/down (or k/j)
select, s start, x stop, r restart, l follow the selected process's log (Ctrl-C comes back),
q quits. Works in any terminal curses knows, over SSH too. Against a supervisord: 4.3's
process info, without CPU and memory."""

from __future__ import annotations

import time

from corral.ctl import client, exitcodes
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode
from corral.wire.names import make_namespec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

REFRESH = 1.0
_KEYS_HELP = "up/down select  s start  x stop  r restart  l log  q quit"


def _size(n: float | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return ""


def _uptime(info: dict[str, Any]) -> str:
    if info["statename"] != "RUNNING" or not info["start"]:
        return ""
    s = max(0, int(info["now"] - info["start"]))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def table(infos: list[dict[str, Any]], stats: dict[str, list[float]], width: int) -> list[str]:
    """The rows as text (also what a test can check without a terminal)."""
    names = [make_namespec(i["group"], i["name"]) for i in infos]
    w = max([len(n) for n in names] + [4]) + 1
    head = f"{'NAME':<{w}}{'STATE':<10}{'PID':>8}{'UPTIME':>10}{'CPU%':>7}{'RSS':>8}{'RESTARTS':>9}"
    rows = [head[:width]]
    for name, info in zip(names, infos, strict=True):
        sample = stats.get(name)
        cpu, rss = (sample[0], sample[1]) if sample else (None, None)
        line = (
            f"{name:<{w}}{info['statename']:<10}{info['pid'] or '':>8}{_uptime(info):>10}"
            f"{'' if cpu is None else f'{cpu:.1f}':>7}{_size(rss):>8}{info.get('restarts', ''):>9}"
        )
        rows.append(line[:width])
    return rows


class TopCommands(Base):
    def do_top(self, arg: str) -> None:
        if not self.no_args("top", arg):
            return
        if not self.upcheck():
            return
        import curses

        try:
            action = curses.wrapper(self._loop)
        except KeyboardInterrupt:
            return
        while action is not None:  # follow a log outside curses, then come back
            try:
                self._follow(f"/logtail/{action}/stdout")
            except KeyboardInterrupt:
                pass
            try:
                action = curses.wrapper(self._loop)
            except KeyboardInterrupt:
                return

    def _fetch(self) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
        infos = self.all_infos(extended=True)
        try:
            stats: dict[str, list[float]] = self.proxy.corral.getStats()
        except client.Fault as exc:
            if exc.faultCode != FaultCode.UNKNOWN_METHOD:
                raise
            stats = {}
        return infos, stats

    def _loop(self, screen: Any) -> str | None:
        """Draw until q (None) or l (the namespec whose log to follow)."""
        import curses

        curses.curs_set(0)
        screen.timeout(int(REFRESH * 1000))
        selected = 0
        note = ""
        while True:
            infos, stats = self._fetch()
            height, width = screen.getmaxyx()
            rows = table(infos, stats, width - 1)
            selected = max(0, min(selected, len(infos) - 1))
            screen.erase()
            running = sum(i["statename"] == "RUNNING" for i in infos)
            title = f"corral top  {running} of {len(infos)} running  {self.options.serverurl}"
            screen.addnstr(0, 0, title, width - 1, curses.A_BOLD)
            screen.addnstr(1, 0, rows[0], width - 1, curses.A_UNDERLINE)
            for y, line in enumerate(rows[1 : height - 3], start=2):
                attr = curses.A_REVERSE if y - 2 == selected else curses.A_NORMAL
                screen.addnstr(y, 0, line, width - 1, attr)
            screen.addnstr(height - 2, 0, note, width - 1)
            screen.addnstr(height - 1, 0, _KEYS_HELP, width - 1, curses.A_DIM)
            screen.refresh()
            began = time.monotonic()
            key = screen.getch()
            if key == -1:
                continue
            name = make_namespec(infos[selected]["group"], infos[selected]["name"]) if infos else ""
            if key in (ord("q"), 27):
                return None
            if key in (curses.KEY_DOWN, ord("j")):
                selected += 1
            elif key in (curses.KEY_UP, ord("k")):
                selected -= 1
            elif key == ord("l") and name:
                return name
            elif key in (ord("s"), ord("x"), ord("r")) and name:
                note = self._act(chr(key), name)
            # a key redraws at once; the next fetch waits out the rest of the second
            left = REFRESH - (time.monotonic() - began)
            screen.timeout(int(max(0.05, left) * 1000))

    def _act(self, key: str, name: str) -> str:
        srv = self.server
        try:
            if key in ("x", "r"):
                try:
                    srv.stopProcess(name)
                except client.Fault as exc:
                    if key == "x" or exc.faultCode != FaultCode.NOT_RUNNING:
                        raise
            if key in ("s", "r"):
                srv.startProcess(name, False)
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            return f"{name}: ERROR ({exc.faultString})"
        return f"{name}: {dict(s='started', x='stopped', r='restarted')[key]}"
