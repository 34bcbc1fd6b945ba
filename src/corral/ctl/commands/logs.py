"""tail, maintail, fg: reading process and daemon output."""

from __future__ import annotations

from corral.ctl import client, exitcodes
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode
from corral.wire.states import ProcessState

DEFAULT_TAIL_BYTES = 1600
BANNER = "==> Press Ctrl-C to exit <=="
_MAINTAIL_ERRORS: dict[int, str] = {
    FaultCode.NO_FILE: "no log file",
    FaultCode.FAILED: "unknown error reading log",
}
_TAIL_ERRORS: dict[int, str] = {**_MAINTAIL_ERRORS, FaultCode.BAD_NAME: "no such process name"}


class LogCommands(Base):
    def _stream(self, path: str) -> client.LogStream:
        opts = self.options
        return client.LogStream(opts.serverurl, path, opts.username, opts.password, self.write_raw)

    def _follow(self, path: str) -> None:
        """Print the banner, then the endpoint's stream until it ends or Ctrl-C."""
        self.check_encoding()
        self.output(BANNER)
        self.stdout.flush()
        stream = self._stream(path)
        try:
            stream.run()
        except KeyboardInterrupt:
            stream.close()
            self.output("")

    def do_tail(self, arg: str) -> None:
        if not self.upcheck():
            return
        args = arg.split()
        if not args:
            self.usage_error("Error: too few arguments", "tail")
            return
        if len(args) > 3:
            self.usage_error("Error: too many arguments", "tail")
            return
        modifier = args.pop(0) if args[0].startswith("-") else None
        if not args:
            self.usage_error("Error: tail requires process name", None)
            return
        name = args[0]
        channel = "stdout"
        if len(args) > 1:
            channel = args[-1].lower()
            if channel not in ("stdout", "stderr"):
                self.usage_error(f"Error: bad channel '{channel}'", None)
                return
        nbytes: int | None = DEFAULT_TAIL_BYTES
        if modifier is not None:
            what = modifier[1:]
            if what == "f":
                nbytes = None
            else:
                try:
                    nbytes = int(what)
                except ValueError:
                    self.usage_error(f"Error: bad argument {modifier}", None)
                    return
        if nbytes is None:
            self._follow(f"/logtail/{name}/{channel}")
            return
        self.check_encoding()
        srv = self.server
        reader = srv.readProcessStdoutLog if channel == "stdout" else srv.readProcessStderrLog
        try:
            data = reader(name, -nbytes, 0)
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            why = _TAIL_ERRORS.get(exc.faultCode)
            if why is None:
                raise
            self.output(f"{name}: ERROR ({why})")
            return
        self.output(data)

    def do_maintail(self, arg: str) -> None:
        if not self.upcheck():
            return
        args = arg.split()
        nbytes = DEFAULT_TAIL_BYTES
        if len(args) > 1:
            self.usage_error("Error: too many arguments", "maintail")
            return
        if args:
            word = args[0]
            if not word.startswith("-"):
                self.usage_error(f"Error: bad argument {word}", None)
                return
            if word[1:] == "f":
                self._follow("/mainlogtail")
                return
            try:
                nbytes = int(word[1:])
            except ValueError:
                self.usage_error(f"Error: bad argument {word}", None)
                return
        try:
            data = self.server.readLog(-nbytes, 0)
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            why = _MAINTAIL_ERRORS.get(exc.faultCode)
            if why is None:
                raise
            self.output(f"supervisord: ERROR ({why})")
            return
        self.output(data)

    def do_fg(self, arg: str) -> None:
        if not self.upcheck():
            return
        names = arg.split()
        if not names:
            self.usage_error("ERROR: no process name supplied", "fg")
            return
        if len(names) > 1:
            self.usage_error("ERROR: too many process names supplied", None)
            return
        name = names[0]
        srv = self.server
        try:
            info = srv.getProcessInfo(name)
        except client.Fault as exc:
            if exc.faultCode != FaultCode.BAD_NAME:
                raise
            self.usage_error("ERROR: bad process name supplied", None)
            return
        if info["state"] != ProcessState.RUNNING:
            self.usage_error("ERROR: process not running", None)
            return
        import threading

        self.output(BANNER)
        self.stdout.flush()
        streams = [self._stream(f"/logtail/{name}/{ch}") for ch in ("stdout", "stderr")]
        threads = [
            threading.Thread(target=self._quiet_run, args=(s,), daemon=True) for s in streams
        ]
        for thread in threads:
            thread.start()
        try:
            self._feed_stdin(name)
        except (KeyboardInterrupt, EOFError):
            self.output("Exiting foreground")
        finally:
            for stream in streams:
                stream.close()

    @staticmethod
    def _quiet_run(stream: client.LogStream) -> None:
        try:
            stream.run()
        except OSError:
            pass

    def _feed_stdin(self, name: str) -> None:
        """Forward typed lines until the process goes away (EOF/Ctrl-C propagate)."""
        srv = self.server
        while True:
            line = input() + "\n"
            try:
                srv.sendProcessStdin(name, line)
                alive = srv.getProcessInfo(name)["state"] == ProcessState.RUNNING
            except client.Fault as exc:
                if exc.faultCode not in (FaultCode.NOT_RUNNING, FaultCode.BAD_NAME):
                    raise
                alive = False
            if not alive:
                self.output("Process got killed")
                self.output("Exiting foreground")
                return
