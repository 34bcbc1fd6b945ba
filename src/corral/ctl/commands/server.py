"""reload, shutdown, version, open: commands about the daemon itself."""

from __future__ import annotations

import errno

from corral.ctl import client, exitcodes
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode


class ServerCommands(Base):
    def do_reload(self, arg: str) -> None:
        if not self.no_args("reload", arg):
            return
        if not self.ask("Really restart the remote supervisord process y/N? "):
            return
        try:
            self.server.restart()
        except client.Fault as exc:
            self.exitstatus = exitcodes.GENERIC
            if exc.faultCode != FaultCode.SHUTDOWN_STATE:
                raise
            self.output("ERROR: already shutting down")
            return
        self.output("Restarted supervisord")

    def do_shutdown(self, arg: str) -> None:
        if not self.no_args("shutdown", arg):
            return
        if not self.ask("Really shut the remote supervisord process down y/N? "):
            return
        url = self.options.serverurl
        try:
            self.server.shutdown()
        except client.Fault as exc:
            if exc.faultCode != FaultCode.SHUTDOWN_STATE:
                self.exitstatus = exitcodes.GENERIC
                raise
            # Upstream leaves the exit code alone here (reload does not).
            self.output("ERROR: already shutting down")
            return
        except OSError as exc:
            self.exitstatus = exitcodes.GENERIC
            if exc.errno == errno.ECONNREFUSED:
                self.output(f"ERROR: {url} refused connection (already shut down?)")
            elif exc.errno == errno.ENOENT:
                self.output(f"ERROR: {url} no such file (already shut down?)")
            else:
                raise
            return
        self.output("Shut down")

    def do_version(self, arg: str) -> None:
        if not self.no_args("version", arg):
            return
        if not self.upcheck():
            return
        self.output(str(self.server.getSupervisorVersion()))

    def do_open(self, arg: str) -> None:
        from urllib.parse import urlsplit

        url = arg.strip()
        if urlsplit(url).scheme not in ("unix", "http"):
            self.usage_error("ERROR: url must be http:// or unix://", None)
            return
        self.options.serverurl = url
        # Switching servers reports the new one's status but keeps the exit code we had.
        kept = self.exitstatus
        self.do_status("")
        self.exitstatus = kept
