"""system.methodHelp texts of the `supervisor.*` methods (corral's own words)."""

from __future__ import annotations

_READ = (
    "Read from the process's {} log: <length> bytes at <offset> (0: to the end); "
    "a negative offset with length 0 reads that many bytes from the end."
)
_TAIL = (
    "Follow the process's {} log: [up to <length> bytes ending at the end of the file, "
    "new offset, overflow flag]."
)

_API = "The version of the XML-RPC API this daemon speaks."

HELP = {
    "getAPIVersion": _API,
    "getVersion": _API + " Old name of getAPIVersion.",
    "getSupervisorVersion": "The Supervisor version this daemon is compatible with.",
    "getIdentification": "The daemon's identifier ([supervisord] identifier=).",
    "getState": "The daemon's state as {statecode, statename}.",
    "getPID": "The daemon's process id.",
    "readLog": "Read from the daemon's main log; offset and length as readProcessStdoutLog.",
    "readMainLog": "Old name of readLog.",
    "clearLog": "Empty the daemon's main log and reopen it.",
    "shutdown": "Stop every process, then exit the daemon.",
    "restart": "Stop every process, read the config again and start over.",
    "reloadConfig": "Read the config again without applying it: [[added, changed, removed]].",
    "addProcessGroup": "Activate a group from the last config read.",
    "removeProcessGroup": "Drop an active group whose processes are all stopped.",
    "startProcess": "Start a process or 'group:*'; with wait, answer once it is RUNNING.",
    "startProcessGroup": "Start each process of a group that is not running; a result each.",
    "startAllProcesses": "Start each process that is not running, by priority; a result each.",
    "stopProcess": "Stop a process or 'group:*'; with wait, answer once it has stopped.",
    "stopProcessGroup": "Stop each running process of a group; a result each.",
    "stopAllProcesses": "Stop each running process; a result each.",
    "signalProcess": "Send a signal (name or number) to a process or 'group:*'.",
    "signalProcessGroup": "Send a signal to each signallable process of a group.",
    "signalAllProcesses": "Send a signal to each signallable process.",
    "getAllConfigInfo": "The settings of every configured process, active or not.",
    "getProcessInfo": "The state struct of one process.",
    "getAllProcessInfo": "The state struct of every process, by group then name.",
    "readProcessStdoutLog": _READ.format("stdout"),
    "readProcessLog": "Old name of readProcessStdoutLog.",
    "readProcessStderrLog": _READ.format("stderr"),
    "tailProcessStdoutLog": _TAIL.format("stdout"),
    "tailProcessLog": "Old name of tailProcessStdoutLog.",
    "tailProcessStderrLog": _TAIL.format("stderr"),
    "clearProcessLogs": "Empty a process's stdout and stderr logs and reopen them.",
    "clearProcessLog": "Old name of clearProcessLogs.",
    "clearAllProcessLogs": "Empty the logs of every process; a result each.",
    "sendProcessStdin": "Write text (UTF-8 encoded) to a running process's stdin.",
    "sendRemoteCommEvent": "Publish a REMOTE_COMMUNICATION event to subscribed listeners.",
}
