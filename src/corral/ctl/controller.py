"""The command interpreter: dispatch, error lines, 401 prompts, help, completion, the shell."""

from __future__ import annotations

import atexit
from types import TracebackType

from corral.ctl import client, exitcodes
from corral.ctl.commands.groups import GroupCommands
from corral.ctl.commands.helptext import DOC_HEADER, HELP, TOPICS
from corral.ctl.commands.logs import LogCommands
from corral.ctl.commands.processes import ProcessCommands
from corral.ctl.commands.server import ServerCommands
from corral.ctl.commands.top import TopCommands
from corral.ctl.commands.update import UpdateCommands

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Completion: which commands take process names, which take group names.
PROCESS_COMMANDS = frozenset(
    {"clear", "fg", "pid", "restart", "signal", "start", "status", "stop", "tail"}
)
GROUP_COMMANDS = frozenset({"add", "remove", "scale", "update"})


def error_line(exc: BaseException, tb: TracebackType | None) -> str:
    """supervisorctl's one-line report of an unexpected exception (innermost frame)."""
    file, line = "?", 0
    while tb is not None:
        file, line = tb.tb_frame.f_code.co_filename, tb.tb_lineno
        tb = tb.tb_next
    return f"error: {type(exc)}, {exc}: file: {file} line: {line}"


class Controller(
    ProcessCommands, LogCommands, GroupCommands, UpdateCommands, TopCommands, ServerCommands
):
    @property
    def prompt(self) -> str:  # type: ignore[override]
        return f"{self.options.prompt}> "

    # -- dispatch ---------------------------------------------------------------------------
    def onecmd(self, line: str) -> bool:
        command, arg, line = self.parseline(line)
        if not line:
            return self.emptyline()
        if not command:
            self.default(line)
            return False
        self.lastcmd = line
        if command in ("EOF", "quit", "exit"):
            self.output("")
            return True
        func = getattr(self, f"do_{command}", None)
        if func is None:
            self.default(line)
            return False
        try:
            try:
                func(arg)
            except client.ProtocolError as exc:
                if exc.errcode != 401:
                    raise
                # 4.3 follows this with an internal `error: <class ...>: file: ...` line.
                self.output("Server requires authentication")
                if not self.options.interactive:
                    self.exitstatus = exitcodes.GENERIC
                    return False
                import getpass

                try:
                    self.options.username = input("Username:")
                    self.options.password = getpass.getpass(prompt="Password:")
                except EOFError:
                    self.output("")
                    self.exitstatus = exitcodes.GENERIC
                    return False
                self.output("")
                return self.onecmd(line)
        except OSError as exc:
            # Commands that skip the up-check (reread, update, add...) meet a missing server
            # here: say so as the up-check does, not as 4.3's internal error line.
            message = self.unreachable(exc)
            if message is None:
                message = error_line(exc, exc.__traceback__)
            self.output(message)
            self.exitstatus = exitcodes.GENERIC
        except Exception as exc:
            self.output(error_line(exc, exc.__traceback__))
            self.exitstatus = exitcodes.GENERIC
        return False

    def emptyline(self) -> bool:
        return False

    def default(self, line: str) -> None:
        self.output(f"*** Unknown syntax: {line}")
        self.exitstatus = exitcodes.GENERIC

    # -- help -------------------------------------------------------------------------------
    def do_help(self, arg: str) -> None:
        topic = arg.strip()
        if not topic:
            self.output("")
            self.output(DOC_HEADER)
            self.output("=" * len(DOC_HEADER))
            self.columnize(list(TOPICS), 79)
            self.output("")
            return
        if arg in HELP:
            self.print_help(arg)
        else:
            self.output(f"*** No help on {arg}")

    # -- completion -------------------------------------------------------------------------
    def completenames(self, text: str, *ignored: Any) -> list[str]:
        return [f"{name} " for name in [*TOPICS, "help"] if name.startswith(text)]

    def completedefault(self, text: str, line: str, begidx: int, endidx: int) -> list[str]:
        command = line.split(None, 1)[0] if line.strip() else ""
        try:
            if command in PROCESS_COMMANDS:
                words = self._process_words()
            elif command in GROUP_COMMANDS:
                words = self._group_words()
            elif command == "help":
                words = [*TOPICS, "help"]
            else:
                return []
        except (OSError, client.Error):
            return []
        return [f"{word} " for word in words if word.startswith(text)]

    def _process_words(self) -> list[str]:
        words: list[str] = ["all"]
        for info in self.server.getAllProcessInfo():
            group, name = info["group"], info["name"]
            if group == name:
                words.append(name)
            else:
                words.extend(w for w in (f"{group}:*", f"{group}:{name}") if w not in words)
        return words

    def _group_words(self) -> list[str]:
        return sorted({info["group"] for info in self.server.getAllConfigInfo()})

    # -- the shell --------------------------------------------------------------------------
    def shell(self) -> None:
        """Interactive loop: history and completion when readline exists; `status` first."""
        self._setup_readline()
        self.cmdqueue.append("status")
        try:
            self.cmdloop()
        except KeyboardInterrupt:
            self.output("")

    def _setup_readline(self) -> None:
        try:
            import readline
        except ImportError:
            return
        # Namespecs contain ':', '*' and '-': keep them inside one completion word.
        delims = readline.get_completer_delims()
        for char in ":*-":
            delims = delims.replace(char, "")
        readline.set_completer_delims(delims)
        history = self.options.history_file
        if history:
            try:
                readline.read_history_file(history)
            except OSError:
                pass

            def save() -> None:
                try:
                    readline.write_history_file(history)
                except OSError:
                    pass

            atexit.register(save)
