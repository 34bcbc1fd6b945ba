"""`corral daemon ...` / `corral ctl ...`: one entry point for both tools."""

from __future__ import annotations

import sys

USAGE = (
    "usage: corral {daemon|ctl|hash-password} [options...]\n  daemon: run corrald\n"
    "  ctl: run corralctl\n"
    "  hash-password: read a password, print its {SCRYPT} form for a config's password=\n"
)


def hash_password_main() -> int:
    """A password from the terminal (asked twice) or one line of stdin, as {SCRYPT}."""
    import getpass

    from corral.server.auth import hash_password

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            sys.stderr.write("corral: the two passwords differ\n")
            return 1
    else:
        first = sys.stdin.readline().rstrip("\n")
    if not first:
        sys.stderr.write("corral: an empty password\n")
        return 1
    sys.stdout.write(hash_password(first) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command in ("daemon", "d", "corrald"):
        from corral.daemon.main import main as daemon_main

        return daemon_main(rest)
    if command in ("ctl", "c", "corralctl"):
        from corral.ctl.main import main as ctl_main

        return ctl_main(rest)
    if command == "hash-password":
        return hash_password_main()
    sys.stderr.write(f"corral: unknown command {command!r}\n{USAGE}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
