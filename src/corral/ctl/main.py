"""corralctl: supervisorctl's command line, one-shot or interactive.

Imports only the standard library, corral.wire and corral.config (lazily), so it starts fast.
"""

from __future__ import annotations

import getopt
import os
import sys

from corral.ctl.commands.base import Options

USAGE = """\
corralctl -- control a corral (or Supervisor) daemon from the command line.

Usage: {prog} [options] [command [arguments]]

Options:
  -c/--configuration FILE  read the [supervisorctl] section of FILE
  -h/--help                print this text and exit
  -i/--interactive         ask before reload/shutdown and prompt for credentials
                           (with no command the shell starts anyway)
  -s/--serverurl URL       unix:///path/to/socket or http://host:port of the daemon
  -u/--username NAME       user name for the server's basic authentication
  -p/--password PASSWORD   password for the server's basic authentication
  -r/--history-file FILE   keep the shell's command history in FILE

Commands: run `{prog} help` for the list. With no command an interactive shell starts.
"""

_SHORT = "c:h?is:u:p:r:"
_LONG = [
    "configuration=",
    "help",
    "interactive",
    "serverurl=",
    "username=",
    "password=",
    "history_file=",
    "history-file=",
]
# Each spelling maps to one option, so repeating it either way is a conflict.
_CANONICAL = {
    "-c": "c", "--configuration": "c",
    "-h": "h", "-?": "h", "--help": "h",
    "-i": "i", "--interactive": "i",
    "-s": "s", "--serverurl": "s",
    "-u": "u", "--username": "u",
    "-p": "p", "--password": "p",
    "-r": "r", "--history_file": "r", "--history-file": "r",
}  # fmt: skip


class UsageError(Exception):
    pass


class Invocation:
    def __init__(self, flags: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.flags = {} if flags is None else flags
        self.args = [] if args is None else args


def _is_url(value: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path))


def parse_argv(argv: list[str]) -> Invocation:
    # (getopt costs ~1 ms: the re module it needs is loaded on this path anyway)
    try:
        pairs, args = getopt.getopt(argv, _SHORT, _LONG)
    except getopt.GetoptError as exc:
        raise UsageError(str(exc))
    inv = Invocation(args=args)
    for opt, value in pairs:
        key = _CANONICAL[opt]
        if key in inv.flags:
            raise UsageError(f"conflicting command line option {opt!r}")
        if key == "s" and not _is_url(value):
            raise UsageError(f"invalid value for {opt} {value!r}: value {value!r} is not a URL")
        inv.flags[key] = value
    return inv


def build_options(inv: Invocation, argv0: str) -> Options:
    """Command line over [supervisorctl] over defaults."""
    from corral.config import find_config_file
    from corral.config.ctlconf import load_ctl
    from corral.config.errors import ConfigError

    path = inv.flags.get("c")
    if path is not None and not os.path.exists(path):
        raise UsageError(f"could not find config file {path}")
    if path is None:
        path = find_config_file(argv0)
    try:
        conf = load_ctl(path)
    except ConfigError as exc:
        raise UsageError(exc.message if exc.line is None else str(exc))
    flags = inv.flags
    from corral.ctl import client

    client.TLS_FILES = (conf.cafile, conf.certfile, conf.keyfile)
    return Options(
        serverurl=flags.get("s", conf.serverurl),
        username=flags.get("u", conf.username),
        password=flags.get("p", conf.password),
        prompt=conf.prompt,
        history_file=flags.get("r", conf.history_file),
        interactive="i" in flags or not inv.args,
    )


def main(argv: list[str] | None = None) -> int:
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else "corralctl"
    if argv is None:
        argv = sys.argv[1:]
    try:
        inv = parse_argv(argv)
        if "h" in inv.flags:
            sys.stdout.write(USAGE.format(prog=os.path.basename(argv0)))
            return 0
        options = build_options(inv, argv0)
    except UsageError as exc:
        sys.stderr.write(f"Error: {exc}\nFor help, use {argv0} -h\n")
        return 2

    from corral.ctl.controller import Controller

    controller = Controller(options)
    try:
        if inv.args:
            controller.onecmd(" ".join(inv.args))
            return controller.exitstatus
        controller.shell()
        return 0  # the shell always exits 0, as supervisorctl's does
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        return 130
    except BrokenPipeError:
        # Output piped into something that stopped reading (e.g. `| head`).
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the interpreter's flush
        return 1
    finally:
        try:
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main())
