"""Output routing: where each channel of a child goes (log file, the console, syslog, events,
a listener pool, the debug copy), and the AUTO log file names.

One place decides a channel's consumers (`consumers`); `attach` wires a spawned child's pipes
to them. No consumer besides a plain log file keeps the zero-copy path of `OutputPump`.
"""

from __future__ import annotations

import errno
import glob
import os
import re
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from corral.config.model import AUTO, LogChannelConfig, ProcessConfig
from corral.logs.capture import OutputPump
from corral.logs.console import Console, ConsoleSink
from corral.logs.rotating import RotatingFile
from corral.logs.sink import Sink
from corral.logs.stamp import StampedSink
from corral.logs.syslogsink import SyslogLines
from corral.runtime.spawn import Spawned, SpawnFailure

if TYPE_CHECKING:
    from corral.runtime.process import Process
    from corral.runtime.supervisor import Supervisor

CHANNELS = ("stdout", "stderr")
Hook = Callable[[bytes], None]


def channel_config(pconf: ProcessConfig, channel: str) -> LogChannelConfig:
    """The one place that picks a channel's settings."""
    return pconf.stdout if channel == "stdout" else pconf.stderr


class OutputRouter:
    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.console: Console | None = None
        self._bytes_done: dict[str, int] = {}  # namespec -> bytes of the pipes that ended

    def bytes_read(self, proc: Process) -> int:
        """Bytes read from a process's output pipes since the daemon started."""
        live = sum(p.taken for p in proc.pumps())
        return self._bytes_done.get(proc.namespec, 0) + live

    # --- the console ---------------------------------------------------------------------

    def configure_console(self) -> None:
        """Console on, off or changed by the config of a new generation."""
        sd = self.sup.config.supervisord
        if not sd.console:
            if self.console is not None:
                self.sup.log.attach_console(None)
                self.console.close(0.0)
                self.console = None
            return
        if self.console is None:
            self.console = Console(
                sd.console_format, timestamps=sd.console_timestamps, drop=sd.console_drop
            )
        else:
            self.console.configure(
                sd.console_format, timestamps=sd.console_timestamps, drop=sd.console_drop
            )
        on_console = (
            p.name for g in self.sup.config.groups for p in g.processes if p.output.console
        )
        self.console.widen(on_console)
        self.sup.log.attach_console(self.console)

    def _console_sink(self, proc: Process, channel: str) -> ConsoleSink | None:
        console = self.console
        keys = proc.config.output
        if console is None or not keys.console:
            return None
        if channel == "stdout" and proc.group in self.sup.pools:
            return None  # a listener's stdout is its protocol channel
        to_stderr = channel == "stderr" and keys.console_stderr == "stderr"
        return console.sink(proc.name, proc.group, channel, to_stderr=to_stderr)

    # --- log files -----------------------------------------------------------------------

    def log_path(self, pconf: ProcessConfig, channel: str) -> str | None:
        """The log file of a channel: as configured, or a fresh AUTO file in childlogdir."""
        ch = channel_config(pconf, channel)
        if ch.logfile != AUTO:
            return ch.logfile
        if channel == "stderr" and pconf.redirect_stderr:
            return None
        sd = self.sup.config.supervisord
        fd, path = tempfile.mkstemp(
            prefix=f"{pconf.name}-{channel}---{sd.identifier}-", suffix=".log", dir=sd.childlogdir
        )
        os.close(fd)
        return path

    def cleanup_auto_logs(self) -> None:
        """Remove AUTO logs a previous daemon with our identifier left (unless nocleanup)."""
        sd = self.sup.config.supervisord
        if sd.nocleanup:
            return
        pattern = re.compile(r".+---" + re.escape(sd.identifier) + r"-\S+\.log(\.\d+)?$")
        for path in glob.glob(os.path.join(glob.escape(sd.childlogdir), "*")):
            if pattern.match(os.path.basename(path)):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    @staticmethod
    def open_logs(proc: Process) -> None:
        """Open the log files if not yet open; SpawnFailure when one cannot be. May run on a
        spawn worker thread: it touches only this process's sinks."""
        for channel, path in (("stdout", proc.stdout_logfile), ("stderr", proc.stderr_logfile)):
            if path is None or (proc.stdout_sink if channel == "stdout" else proc.stderr_sink):
                continue
            ch = channel_config(proc.config, channel)
            try:
                sink = RotatingFile(path, ch.maxbytes, ch.backups)
            except OSError as e:
                kind = "fds" if e.errno in (errno.EMFILE, errno.ENFILE) else "spawn"
                raise SpawnFailure(f"can't open log file {path}: {e.strerror}", kind) from None
            if channel == "stdout":
                proc.stdout_sink = sink
            else:
                proc.stderr_sink = sink

    # --- consumers of a channel ------------------------------------------------------------

    def consumers(
        self, proc: Process, channel: str
    ) -> tuple[Hook | None, Callable[[], None] | None]:
        """What else wants a channel's bytes besides its log file (None keeps zero-copy), and
        what to tell when the pipe ends."""
        sup = self.sup
        hooks: list[Hook] = []
        on_end: Callable[[], None] | None = None
        pool = sup.pools.get(proc.group)
        ch = channel_config(proc.config, channel)
        if pool is not None and channel == "stdout":
            # a listener's stdout is its protocol channel: never an event, never syslogged
            hooks.append(lambda d: pool.feed(proc, d))
        else:
            if ch.events_enabled:
                hooks.append(lambda d: sup.events.publish_output(proc, channel, d))
            if ch.syslog:
                lines = SyslogLines(proc.name)
                hooks.append(lines)
                on_end = lines.end
        if sup.log.is_enabled("debug"):
            hooks.append(self._debug_copy(proc, channel))
        if not hooks:
            return None, on_end
        if len(hooks) == 1:
            return hooks[0], on_end

        def all_(data: bytes) -> None:
            for h in hooks:
                h(data)

        return all_, on_end

    def _debug_copy(self, proc: Process, channel: str) -> Hook:
        log = self.sup.log

        def copy(data: bytes) -> None:
            if data:
                log.debug(f"{proc.name!r} {channel} output:\n{data.decode('utf-8', 'replace')}")

        return copy

    def attach(self, proc: Process, child: Spawned) -> list[OutputPump]:
        """Start a pump on each output pipe of a freshly spawned child."""
        pumps = []
        for fd, sink, channel in (
            (child.stdout_fd, proc.stdout_sink, "stdout"),
            (child.stderr_fd, proc.stderr_sink, "stderr"),
        ):
            if fd is not None:
                pumps.append(self._pump(proc, fd, sink, channel))
        return pumps

    def _routing(self, proc: Process, channel: str, sink: RotatingFile | None) -> _Routing:
        """The consumers of one channel, as its config says now."""
        protocol = channel == "stdout" and proc.group in self.sup.pools
        on_data, on_end = self.consumers(proc, channel)
        extra: list[Sink] = []
        file_sink: Sink | None = sink
        if sink is not None and proc.config.output.log_timestamps:
            stamped = StampedSink(sink)
            file_sink, extra = None, [stamped]
            on_end = _then(on_end, stamped.end_line)
        console = self._console_sink(proc, channel)
        if console is not None:
            extra.append(console)
            on_end = _then(on_end, console.close)
        capture = 0 if protocol else channel_config(proc.config, channel).capture_maxbytes
        return _Routing(file_sink, extra, on_data, on_end, capture)

    def reroute(self, proc: Process) -> None:
        """A running process's pipes to the consumers its new config names (update)."""
        for pump in proc.pumps():
            sink = proc.stdout_sink if pump.channel == "stdout" else proc.stderr_sink
            r = self._routing(proc, pump.channel, sink)
            pump.retarget(
                r.sink,
                sinks=r.sinks,
                on_data=r.on_data,
                on_end=r.on_end,
                capture_maxbytes=r.capture_maxbytes,
            )

    def _pump(self, proc: Process, fd: int, sink: RotatingFile | None, channel: str) -> OutputPump:
        sup = self.sup
        r = self._routing(proc, channel, sink)
        pump: OutputPump

        def eof() -> None:
            done = self._bytes_done
            done[proc.namespec] = done.get(proc.namespec, 0) + pump.taken
            proc.pump_ended(pump)

        path = proc.stdout_logfile if channel == "stdout" else proc.stderr_logfile
        log = sup.log

        def failing(exc: OSError) -> None:
            # once per episode (the pump says so only on the first failed write)
            log.error(
                f"can't write {proc.name} {channel} log {path}: {exc.strerror or exc}; "
                "its output is lost until the file can be written again"
            )

        def recovered(lost: int) -> None:
            log.warn(f"{proc.name} {channel} log {path} writable again; {lost} bytes were lost")

        pump = OutputPump(
            fd,
            r.sink,
            sinks=r.sinks,
            on_error=failing,
            on_recover=recovered,
            on_eof=eof,
            on_data=r.on_data,
            on_end=r.on_end,
            capture_maxbytes=r.capture_maxbytes,
            on_capture=lambda body: sup.events.publish_capture(proc, channel, body),
            strip_ansi=sup.config.supervisord.strip_ansi,
            channel=channel,
        )
        pump.start()
        return pump


class _Routing(NamedTuple):
    sink: Sink | None
    sinks: list[Sink]
    on_data: Hook | None
    on_end: Callable[[], None] | None
    capture_maxbytes: int


def _then(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return second

    def both() -> None:
        first()
        second()

    return both
