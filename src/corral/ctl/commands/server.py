"""reload, shutdown, version, open: commands about the daemon itself."""

from __future__ import annotations

import errno

from corral.ctl import client, exitcodes
from corral.ctl.commands.base import Base
from corral.wire.faults import FaultCode
from corral.wire.names import make_namespec


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

    def do_health(self, arg: str) -> None:
        """corral's health verdict; against a supervisord, the same rule read from 4.3's
        process info (without readiness, health checks or the operator's wants)."""
        if not self.no_args("health", arg):
            return
        self.exitstatus = exitcodes.GENERIC
        try:
            report = self.proxy.corral.health()
        except OSError as exc:
            message = self.unreachable(exc)
            if message is None:
                raise
            self.output(message)
            return
        except client.Fault as exc:
            if exc.faultCode != FaultCode.UNKNOWN_METHOD:
                raise
            report = _health_from_4_3(self.server.getAllProcessInfo())
        problems = report["problems"]
        if not problems:
            self.exitstatus = exitcodes.SUCCESS
            self.output(f"ok: {report['counted']} processes as they should be")
            return
        self.output(f"not ready: {len(problems)} of {report['counted']}")
        for p in problems:
            self.output(f"{p['name']} {p['statename']}: {p['reason']}")

    def do_version(self, arg: str) -> None:
        if not self.no_args("version", arg):
            return
        if not self.upcheck():
            return
        self.output(str(self.server.getSupervisorVersion()))

    def do_open(self, arg: str) -> None:
        from urllib.parse import urlsplit

        url = arg.strip()
        if urlsplit(url).scheme not in ("unix", "http", "https"):
            self.usage_error("ERROR: url must be http:// or unix://", None)  # 4.3 text
            return
        self.options.serverurl = url
        # Switching servers reports the new one's status but keeps the exit code we had.
        kept = self.exitstatus
        self.do_status("")
        self.exitstatus = kept


def _health_from_4_3(infos: list[dict[str, object]]) -> dict[str, object]:
    """A supervisord knows no wants: every process not STOPPED counts; RUNNING is fine, and
    so is EXITED with status 0 (a job that is done)."""
    problems = []
    counted = 0
    for info in infos:
        state = str(info["statename"])
        if state == "STOPPED":
            continue
        counted += 1
        if state == "RUNNING" or (state == "EXITED" and info.get("exitstatus") == 0):
            continue
        name = make_namespec(str(info["group"]), str(info["name"]))
        reason = str(info.get("spawnerr") or info.get("description") or state.lower())
        problems.append({"name": name, "statename": state, "reason": reason})
    return {"ok": not problems, "counted": counted, "problems": problems}
