"""State every command shares: options, output, the exit code, the server proxy, upcheck."""

from __future__ import annotations

import cmd
import errno
import sys

from corral.ctl import client, exitcodes
from corral.ctl.commands.helptext import HELP
from corral.wire.faults import API_VERSION, FaultCode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


class Options:
    """What the command line and [supervisorctl] decided; `open` and 401 prompts change it.

    A plain class, not a dataclass: `dataclasses` costs corralctl ~10 ms to import.
    """

    def __init__(
        self,
        serverurl: str,
        username: str | None = None,
        password: str | None = None,
        prompt: str = "supervisor",
        history_file: str | None = None,
        interactive: bool = False,  # confirmations and auth prompts (shell, or -i)
    ) -> None:
        self.serverurl = serverurl
        self.username = username
        self.password = password
        self.prompt = prompt
        self.history_file = history_file
        self.interactive = interactive

    def __repr__(self) -> str:
        return f"Options({vars(self)!r})"


class Base(cmd.Cmd):
    """supervisorctl's controller state; command families are mixins on top of it."""

    def __init__(
        self, options: Options, stdin: IO[str] | None = None, stdout: IO[str] | None = None
    ) -> None:
        super().__init__(stdin=stdin, stdout=stdout)
        self.options = options
        self.exitstatus = exitcodes.SUCCESS
        self._proxy: Any = None
        self._proxy_key: tuple[str, str | None, str | None] | None = None

    # -- output ---------------------------------------------------------------------------
    def output(self, message: str) -> None:
        self.stdout.write(message + "\n")

    def write_raw(self, text: str) -> None:
        """Streamed log text: written as it comes, flushed so the user sees it now."""
        self.stdout.write(text)
        self.stdout.flush()

    def print_json(self, value: object) -> None:
        import json

        self.output(json.dumps(value, indent=2, ensure_ascii=False))

    @staticmethod
    def json_flag(arg: str) -> tuple[bool, str]:
        """`--json` anywhere in the arguments: (asked, the other arguments)."""
        words = arg.split()
        return "--json" in words, " ".join(w for w in words if w != "--json")

    def all_infos(self, extended: bool) -> list[dict[str, Any]]:
        """getAllProcessInfo; with `extended`, corral's (4.3's dict plus corral's keys), or
        4.3's from a supervisord."""
        if extended:
            try:
                infos: list[dict[str, Any]] = self.proxy.corral.getAllProcessInfo()
                return infos
            except client.Fault as exc:
                if exc.faultCode != FaultCode.UNKNOWN_METHOD:
                    raise
        result: list[dict[str, Any]] = self.server.getAllProcessInfo()
        return result

    def print_help(self, topic: str) -> None:
        self.output(HELP[topic])

    def usage_error(self, message: str, topic: str | None, code: int = exitcodes.GENERIC) -> None:
        self.output(message)
        self.exitstatus = code
        if topic is not None:
            self.print_help(topic)

    def no_args(self, topic: str, arg: str) -> bool:
        """For commands that take nothing: complain (with help) when given something."""
        if not arg:
            return True
        self.usage_error(f"Error: {topic} accepts no arguments", topic)
        return False

    def exit_from_result(self, code: int, ignored: int | None = None) -> None:
        new = exitcodes.from_fault(code, ignored)
        if new is not None:
            self.exitstatus = new

    def check_encoding(self) -> None:
        encoding = getattr(sys.stdout, "encoding", None) or ""
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            self.output(
                f"Warning: sys.stdout.encoding is set to {encoding or None}, so Unicode output "
                "may fail. Check your LANG and PYTHONIOENCODING environment settings."
            )

    # -- server ---------------------------------------------------------------------------
    @property
    def server(self) -> Any:
        """The `supervisor.*` namespace of the current server (rebuilt when options change)."""
        return self.proxy.supervisor

    @property
    def proxy(self) -> Any:
        opts = self.options
        key = (opts.serverurl, opts.username, opts.password)
        if self._proxy is None or key != self._proxy_key:
            self._proxy = client.make_proxy(*key)
            self._proxy_key = key
        return self._proxy

    def unreachable(self, exc: OSError) -> str | None:
        """What to say when connecting to the server failed, or None for another error."""
        url = self.options.serverurl
        if exc.errno == errno.ECONNREFUSED:
            return f"{url} refused connection"
        if exc.errno == errno.ENOENT:
            return f"{url} no such file"
        return None

    def upcheck(self) -> bool:
        """Is a Supervisor-compatible server there? Says why not, and sets the exit code."""
        # OSError first: naming client.Fault imports xmlrpc.client, which is not needed here.
        try:
            version = self.server.getVersion()
        except OSError as exc:
            message = self.unreachable(exc)
            if message is None:
                raise
            self.output(message)
            refused = exc.errno == errno.ECONNREFUSED
            self.exitstatus = exitcodes.UNKNOWN_STATUS if refused else exitcodes.NOT_RUNNING
            return False
        except client.Fault as exc:
            if exc.faultCode != FaultCode.UNKNOWN_METHOD:
                raise
            self.output(
                "Sorry, supervisord responded but did not recognize the supervisor namespace "
                "commands that supervisorctl uses to control it.  Please check that the "
                "[rpcinterface:supervisor] section is enabled in the configuration file "
                "(see sample.conf)."
            )
            self.exitstatus = exitcodes.NOT_RUNNING_STATUS
            return False
        if version != API_VERSION:
            self.output(
                "Sorry, this version of supervisorctl expects to talk to a server with API "
                f"version {API_VERSION}, but the remote version is {version}."
            )
            self.exitstatus = exitcodes.NOT_INSTALLED
            return False
        return True

    def _follow(self, path: str) -> None:
        """Implemented by LogCommands: stream a /logtail path until Ctrl-C."""
        raise NotImplementedError

    def do_status(self, arg: str) -> None:
        """Implemented by ProcessCommands; `open` and the shell's first command call it."""
        raise NotImplementedError

    def ask(self, question: str) -> bool:
        """A y/N confirmation, asked only in interactive mode."""
        if not self.options.interactive:
            return True
        answer = input(question)
        return answer.strip().lower() in ("y", "yes")
