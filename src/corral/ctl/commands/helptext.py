"""Usage text for each command (corral's own wording; the index layout matches supervisorctl)."""

from __future__ import annotations

HELP: dict[str, str] = {
    "add": (
        "add <group> [<group> ...]\tActivate groups added to the config by `reread`\n"
        "\t\t\t(starts their autostart programs)"
    ),
    "avail": (
        "avail\t\t\tList every configured process and whether it is in use\n"
        "avail --json\t\tThe same as JSON"
    ),
    "clear": (
        "clear <name> [<name> ...]\tEmpty the log files of these processes\n"
        "clear all\t\t\tEmpty the log files of every process"
    ),
    "exit": "exit\tLeave the corralctl shell",
    "fg": (
        "fg <process>\tAttach to a running process: show its output, send typed lines\n"
        "\t\tto its stdin (Ctrl-C or Ctrl-D detaches)"
    ),
    "maintail": (
        "maintail\tPrint the last 1600 bytes of the daemon's main log\n"
        "maintail -<n>\tPrint the last <n> bytes of the main log\n"
        "maintail -f\tFollow the main log until Ctrl-C"
    ),
    "open": "open <url>\tTalk to another server (unix:///path or http://host:port)",
    "pid": (
        "pid\t\t\tPrint the daemon's pid\n"
        "pid <name> [<name> ...]\tPrint each process's pid (0 when not running)\n"
        "pid all\t\t\tPrint the pid of every process\n"
        "pid --json [<name> ...]\tThe daemon's and the processes' pids as JSON"
    ),
    "quit": "quit\tLeave the corralctl shell",
    "reload": "reload\t\tRestart the daemon: stop everything and re-read the config",
    "remove": "remove <group> [<group> ...]\tDrop stopped groups that left the config",
    "reread": "reread\t\t\tRe-read the config and report what changed (applies nothing)",
    "restart": (
        "restart <name> [<name> ...]\tStop, then start, these processes\n"
        "restart <group>:*\t\tRestart every process of a group\n"
        "restart all\t\t\tRestart every process\n"
        "restart --rolling [--batch <k>] <name> [...]\tOne (or k) at a time, the next\n"
        "\t\t\tonly once the new ones run (are ready); stops at a failure\n"
        "The config is not re-read; use `reread` and `update` for that."
    ),
    "shutdown": "shutdown\tStop every process and the daemon itself",
    "signal": (
        "signal <sig> <name> [<name> ...]\tSend a signal (name or number) to processes\n"
        "signal <sig> <group>:*\t\tSignal every process of a group\n"
        "signal <sig> all\t\t\tSignal every process"
    ),
    "start": (
        "start <name> [<name> ...]\tStart these processes\n"
        "start <group>:*\t\t\tStart every process of a group\n"
        "start all\t\t\tStart every process"
    ),
    "status": (
        "status\t\t\tShow the state of every process\n"
        "status <name> [<name> ...]\tShow the state of these processes\n"
        "status <group>:*\t\tShow the state of every process of a group\n"
        "status --json [<name> ...]\tThe same as JSON, with corral's fields"
    ),
    "stop": (
        "stop <name> [<name> ...]\tStop these processes\n"
        "stop <group>:*\t\t\tStop every process of a group\n"
        "stop all\t\t\tStop every process"
    ),
    "tail": (
        "tail [-f|-<n>] <name> [stdout|stderr]\tPrint a process's log (stdout by default)\n"
        "  no option: the last 1600 bytes\n"
        "  -<n>: the last <n> bytes\n"
        "  -f: follow the log until Ctrl-C"
    ),
    "update": (
        "update\t\t\tRe-read the config and apply it with the least disruption: keys a\n"
        "\t\t\trunning process can take without a restart are applied live, only\n"
        "\t\t\tthe affected processes restart, are added or removed; processes\n"
        "\t\t\tstopped by hand stay stopped\n"
        "update all\t\tThe same\n"
        "update <group> [...]\tApply only the changes of these groups\n"
        "update --plan [--json] [<group> ...]\tSay what update would do, per process\n"
        "\t\t\tand why, changing nothing"
    ),
    "version": "version\t\t\tPrint the daemon's version",
    "help": "help\t\tList the commands\nhelp <command>\tExplain one command",
}

# Listed by `help` (as supervisorctl lists them: every command except help itself and EOF).
# corral's own commands: `help <topic>` explains them, but 4.3's index stays as it was
# (scripts and tests compare it)
EXTRA_HELP = {
    "top": (
        "top\t\tA live view of every process (state, CPU, memory, restarts); keys:\n"
        "\t\tup/down select, s start, x stop, r restart, l log, q quit"
    ),
    "scale": (
        "scale <program> <n>\tRun n processes of a program: start only the new ones, or\n"
        "\t\t\tstop the highest-numbered; the others keep running (update\n"
        "\t\t\tgoes back to the config's numprocs)"
    ),
    "health": (
        "health\t\tExit 0 when every process that should be running is running (and\n"
        "\t\thealthy), else 1, naming the ones that are not (Docker's HEALTHCHECK)"
    ),
}
TOPICS = sorted(name for name in HELP if name != "help")
HELP.update(EXTRA_HELP)

DOC_HEADER = "default commands (type help <topic>):"
