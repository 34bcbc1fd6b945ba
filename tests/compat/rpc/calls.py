"""The calls recorded from supervisord 4.3 into golden.json, and replayed against corrald.

Shared by `record_golden.py` (writes the file) and `test_golden.py` (compares). Each case
is (key, method, params); what is kept of the answer is decided by `normalize`, so that
values that differ from run to run (pids, times, temp paths) are reduced to their shape.
A method starting with '#' is a step between calls (edit the config on disk, remove a file,
wait for a file or for the daemon), made the same way for both daemons.
"""

from __future__ import annotations

import http.client
import os
import re
import socket
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

# The config file's name in the temp directory (the `#config` step rewrites it).
CONFIG_FILE = "supervisord.conf"

# A config both daemons can run. `{tmp}` is the temp directory.
CONFIG = """\
[unix_http_server]
file={tmp}/rpc.sock

[supervisord]
logfile={tmp}/main.log
pidfile={tmp}/daemon.pid
childlogdir={tmp}
identifier=golden
nodaemon=true
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp}/rpc.sock

[program:app]
command=/bin/sleep 1000
startsecs=0
stdout_logfile={tmp}/app.out
stderr_logfile={tmp}/app.err

[program:echo]
command=/bin/sh -c "echo hello; echo oops >&2; exec /bin/sleep 1000"
startsecs=0
stdout_logfile={tmp}/echo.out
stderr_logfile={tmp}/echo.err

[program:nolog]
command=/bin/sleep 1000
autostart=false
stdout_logfile=NONE
stderr_logfile=NONE

[program:nofile]
command=/nonexistent/command
autostart=false

[program:stubborn]
command=/bin/sh -c "trap '' TERM; exec /bin/sh -c 'trap \\"\\" TERM; while :; do sleep 1; done'"
startsecs=0
stopwaitsecs=4
priority=5

[group:grp]
programs=g1,g2

[program:g1]
command=/bin/sleep 1000
startsecs=0

[program:g2]
command=/bin/sleep 1000
startsecs=0
autostart=false
"""

# CONFIG after an edit on disk: group `grp` changed (g2's command), `nolog` removed, and
# three groups added (`added` autostarts; `notexec` and `quick` fail to start).
_NOLOG = """\
[program:nolog]
command=/bin/sleep 1000
autostart=false
stdout_logfile=NONE
stderr_logfile=NONE
"""
_ADDED = """\
[program:added]
command=/bin/sleep 1000
startsecs=0

[program:notexec]
command=/etc/passwd
autostart=false

[program:quick]
command=/bin/false
startsecs=3
startretries=0
autostart=false
"""
assert _NOLOG in CONFIG
CHANGED_CONFIG = CONFIG.replace(_NOLOG, _ADDED).replace(
    "[program:g2]\ncommand=/bin/sleep 1000", "[program:g2]\ncommand=/bin/sleep 1001"
)
assert CHANGED_CONFIG.count("sleep 1001") == 1

# A config that no longer parses.
BROKEN_CONFIG = "this is not an ini file\n"

CONFIGS = {"base": CONFIG, "changed": CHANGED_CONFIG, "broken": BROKEN_CONFIG}

# Names of the processes in CONFIG, as (group, name), lexical.
PROCESSES = [
    ("app", "app"),
    ("echo", "echo"),
    ("grp", "g1"),
    ("grp", "g2"),
    ("nofile", "nofile"),
    ("nolog", "nolog"),
    ("stubborn", "stubborn"),
]

S = "supervisor."

# (key, method, params). Order matters: later calls see the effects of earlier ones.
CASES: list[tuple[str, str, list[Any]]] = [
    ("getAPIVersion", S + "getAPIVersion", []),
    ("getVersion", S + "getVersion", []),
    ("getSupervisorVersion", S + "getSupervisorVersion", []),
    ("getIdentification", S + "getIdentification", []),
    ("getState", S + "getState", []),
    ("getPID", S + "getPID", []),
    ("getProcessInfo app", S + "getProcessInfo", ["app"]),
    ("getProcessInfo grp:g1", S + "getProcessInfo", ["grp:g1"]),
    ("getProcessInfo never started", S + "getProcessInfo", ["nolog"]),
    ("getProcessInfo nosuch", S + "getProcessInfo", ["nosuch"]),
    ("getProcessInfo grp:*", S + "getProcessInfo", ["grp:*"]),
    ("getProcessInfo grp:nosuch", S + "getProcessInfo", ["grp:nosuch"]),
    ("getProcessInfo no args", S + "getProcessInfo", []),
    ("getProcessInfo int", S + "getProcessInfo", [5]),
    ("getAllProcessInfo", S + "getAllProcessInfo", []),
    ("getAllConfigInfo", S + "getAllConfigInfo", []),
    ("startProcess running", S + "startProcess", ["app"]),
    ("startProcess nofile", S + "startProcess", ["nofile"]),
    ("startProcess nosuch", S + "startProcess", ["nosuch"]),
    ("stopProcess not running", S + "stopProcess", ["nolog"]),
    ("stopProcess nosuch", S + "stopProcess", ["nosuch:x"]),
    ("signalProcess bad signal", S + "signalProcess", ["app", "BOGUS"]),
    ("signalProcess not running", S + "signalProcess", ["nolog", "HUP"]),
    ("signalProcess ok", S + "signalProcess", ["app", "CONT"]),
    ("signalProcessGroup", S + "signalProcessGroup", ["grp", "SIGCONT"]),
    ("signalProcessGroup nosuch", S + "signalProcessGroup", ["nosuch", "HUP"]),
    ("readProcessStdoutLog", S + "readProcessStdoutLog", ["echo", 0, 0]),
    ("readProcessLog", S + "readProcessLog", ["echo", 1, 3]),
    ("readProcessStderrLog", S + "readProcessStderrLog", ["echo", -3, 0]),
    ("readProcessStdoutLog past end", S + "readProcessStdoutLog", ["echo", 100, 0]),
    ("readProcessStdoutLog NONE", S + "readProcessStdoutLog", ["nolog", 0, 0]),
    ("readProcessStdoutLog bad args", S + "readProcessStdoutLog", ["echo", -1, 5]),
    ("readProcessStdoutLog negative length", S + "readProcessStdoutLog", ["echo", 0, -1]),
    ("readProcessStdoutLog group", S + "readProcessStdoutLog", ["grp:*", 0, 0]),
    ("tailProcessStdoutLog", S + "tailProcessStdoutLog", ["echo", 0, 100]),
    ("tailProcessLog offset", S + "tailProcessLog", ["echo", 2, 1000]),
    ("tailProcessStderrLog short", S + "tailProcessStderrLog", ["echo", 0, 2]),
    ("tailProcessStdoutLog past end", S + "tailProcessStdoutLog", ["echo", 50, 10]),
    ("tailProcessStdoutLog NONE", S + "tailProcessStdoutLog", ["nolog", 0, 100]),
    ("tailProcessStdoutLog nosuch", S + "tailProcessStdoutLog", ["nosuch", 0, 100]),
    ("readLog bad args", S + "readLog", [-1, 5]),
    ("readLog negative length", S + "readLog", [0, -1]),
    ("readMainLog tail", S + "readMainLog", [-1, 0]),
    ("sendProcessStdin int", S + "sendProcessStdin", ["app", 5]),
    ("sendProcessStdin not running", S + "sendProcessStdin", ["nolog", "x"]),
    ("sendProcessStdin nosuch", S + "sendProcessStdin", ["nosuch", "x"]),
    ("sendProcessStdin ok", S + "sendProcessStdin", ["app", "hi\n"]),
    ("sendRemoteCommEvent", S + "sendRemoteCommEvent", ["type", "data"]),
    ("addProcessGroup active", S + "addProcessGroup", ["grp"]),
    ("addProcessGroup nosuch", S + "addProcessGroup", ["nosuch"]),
    ("removeProcessGroup running", S + "removeProcessGroup", ["app"]),
    ("removeProcessGroup nosuch", S + "removeProcessGroup", ["nosuch"]),
    ("reloadConfig", S + "reloadConfig", []),
    ("clearProcessLogs nosuch", S + "clearProcessLogs", ["nosuch"]),
    ("clearProcessLogs group", S + "clearProcessLogs", ["grp:*"]),
    ("clearProcessLog", S + "clearProcessLog", ["nolog"]),
    ("startProcessGroup", S + "startProcessGroup", ["grp"]),
    ("startProcessGroup again", S + "startProcessGroup", ["grp"]),
    ("startProcessGroup nosuch", S + "startProcessGroup", ["nosuch"]),
    ("stopProcess grp:*", S + "stopProcess", ["grp:*"]),
    ("stopProcessGroup none running", S + "stopProcessGroup", ["grp"]),
    ("startProcess grp:* no wait", S + "startProcess", ["grp:*", False]),
    # A stop signal sent between fork and exec is lost by 4.3; give the children time to exec.
    ("pause", "", [0.5]),
    ("stopProcessGroup", S + "stopProcessGroup", ["grp", True]),
    ("startProcess one", S + "startProcess", ["grp:g2"]),
    ("stopProcess one", S + "stopProcess", ["grp:g2"]),
    ("getProcessInfo stopped", S + "getProcessInfo", ["grp:g2"]),
    ("startAllProcesses", S + "startAllProcesses", []),
    ("clearAllProcessLogs", S + "clearAllProcessLogs", []),
    ("unknown a.b.c", "a.b.c", []),
    ("unknown underscore", S + "_update", ["x"]),
    ("unknown namespace", "nosuch.getState", []),
    ("unknown method", S + "nosuch", []),
    ("unknown no dot", "getState", []),
    ("wrong arg count", S + "getAPIVersion", [1]),
    ("system.listMethods", "system.listMethods", []),
    ("system.methodHelp nosuch", "system.methodHelp", ["nosuch.x"]),
    ("system.methodSignature nosuch", "system.methodSignature", ["nosuch.x"]),
    ("system.methodSignature no args", "system.methodSignature", []),
    (
        "system.multicall",
        "system.multicall",
        [
            [
                {"methodName": S + "getAPIVersion", "params": []},
                {"methodName": S + "getAPIVersion"},
                {"params": []},
                {"methodName": "system.multicall", "params": [[]]},
                {"methodName": "nosuch.method", "params": []},
                {"methodName": S + "getProcessInfo", "params": ["nosuch"]},
                {"methodName": S + "getAPIVersion", "params": [1]},
                {"methodName": S + "stopProcess", "params": ["nolog"]},
                {"methodName": S + "getState", "params": []},
            ]
        ],
    ),
    ("system.multicall empty", "system.multicall", [[]]),
    # -- logs, with offsets and lengths (clearAllProcessLogs emptied them: write them again)
    ("stopProcess echo", S + "stopProcess", ["echo"]),
    ("startProcess echo", S + "startProcess", ["echo"]),
    ("wait echo.out", "#wait_file", ["echo.out", "hello\n"]),
    ("wait echo.err", "#wait_file", ["echo.err", "oops\n"]),
    ("readProcessStdoutLog 0 3", S + "readProcessStdoutLog", ["echo", 0, 3]),
    ("readProcessStdoutLog 2 0", S + "readProcessStdoutLog", ["echo", 2, 0]),
    ("readProcessStdoutLog at end", S + "readProcessStdoutLog", ["echo", 6, 0]),
    ("readProcessStdoutLog 5 100", S + "readProcessStdoutLog", ["echo", 5, 100]),
    ("readProcessStdoutLog -2 0", S + "readProcessStdoutLog", ["echo", -2, 0]),
    ("readProcessStdoutLog -100 0", S + "readProcessStdoutLog", ["echo", -100, 0]),
    ("readProcessStdoutLog empty file", S + "readProcessStdoutLog", ["app", 0, 0]),
    ("readProcessStdoutLog AUTO", S + "readProcessStdoutLog", ["grp:g1", 0, 0]),
    ("readProcessLog nosuch", S + "readProcessLog", ["nosuch", 0, 0]),
    ("readProcessLog bad args", S + "readProcessLog", ["echo", -1, 1]),
    ("readProcessStderrLog 0 0", S + "readProcessStderrLog", ["echo", 0, 0]),
    ("readProcessStderrLog 1 2", S + "readProcessStderrLog", ["echo", 1, 2]),
    ("readProcessStderrLog NONE", S + "readProcessStderrLog", ["nolog", 0, 0]),
    ("readProcessStderrLog nosuch", S + "readProcessStderrLog", ["nosuch", 0, 0]),
    ("readProcessStderrLog bad args", S + "readProcessStderrLog", ["echo", -1, 5]),
    ("readProcessStderrLog negative length", S + "readProcessStderrLog", ["echo", 0, -5]),
    ("readProcessStderrLog group", S + "readProcessStderrLog", ["grp:*", 0, 0]),
    # 4.3's offset quirk: with data left after offset, the last `length` bytes come back.
    ("tailProcessStdoutLog 1 3", S + "tailProcessStdoutLog", ["echo", 1, 3]),
    ("tailProcessStdoutLog 5 1000", S + "tailProcessStdoutLog", ["echo", 5, 1000]),
    ("tailProcessStdoutLog at end", S + "tailProcessStdoutLog", ["echo", 6, 10]),
    ("tailProcessStdoutLog 0 0", S + "tailProcessStdoutLog", ["echo", 0, 0]),
    ("tailProcessStdoutLog -1 5", S + "tailProcessStdoutLog", ["echo", -1, 5]),
    ("tailProcessStdoutLog 0 -1", S + "tailProcessStdoutLog", ["echo", 0, -1]),
    ("tailProcessStdoutLog group", S + "tailProcessStdoutLog", ["grp:*", 0, 10]),
    ("tailProcessLog 3 2", S + "tailProcessLog", ["echo", 3, 2]),
    ("tailProcessLog nosuch", S + "tailProcessLog", ["nosuch", 0, 10]),
    ("tailProcessStderrLog 0 100", S + "tailProcessStderrLog", ["echo", 0, 100]),
    ("tailProcessStderrLog 2 2", S + "tailProcessStderrLog", ["echo", 2, 2]),
    ("tailProcessStderrLog at end", S + "tailProcessStderrLog", ["echo", 5, 2]),
    ("tailProcessStderrLog NONE", S + "tailProcessStderrLog", ["nolog", 0, 100]),
    ("tailProcessStderrLog nosuch", S + "tailProcessStderrLog", ["nosuch", 0, 100]),
    ("tailProcessStderrLog AUTO", S + "tailProcessStderrLog", ["grp:g1", 0, 100]),
    ("clearProcessLog echo", S + "clearProcessLog", ["echo"]),
    ("readProcessStdoutLog cleared", S + "readProcessStdoutLog", ["echo", 0, 0]),
    ("readProcessStderrLog cleared", S + "readProcessStderrLog", ["echo", 0, 0]),
    ("tailProcessStdoutLog cleared", S + "tailProcessStdoutLog", ["echo", 0, 100]),
    ("clearProcessLogs grp:g1", S + "clearProcessLogs", ["grp:g1"]),
    ("clearProcessLog nosuch", S + "clearProcessLog", ["nosuch"]),
    ("clearProcessLog not running", S + "clearProcessLog", ["nofile"]),
    # -- the main log (digits masked: it holds times and pids)
    ("readLog 0 10", S + "readLog", [0, 10]),
    ("readMainLog 0 4", S + "readMainLog", [0, 4]),
    ("readLog past end", S + "readLog", [10**8, 0]),
    ("readLog -1 1", S + "readLog", [-1, 1]),
    ("clearLog", S + "clearLog", []),
    ("readLog cleared", S + "readLog", [10**8, 0]),
    # -- signals
    ("signalProcess number", S + "signalProcess", ["app", "18"]),
    ("signalProcess SIG name", S + "signalProcess", ["app", "SIGCONT"]),
    ("signalProcess lower case", S + "signalProcess", ["app", "cont"]),
    ("signalProcess grp:*", S + "signalProcess", ["grp:*", "CONT"]),
    ("signalProcess nosuch", S + "signalProcess", ["nosuch", "HUP"]),
    ("signalProcess bad number", S + "signalProcess", ["app", "99999"]),
    ("signalProcessGroup bad signal", S + "signalProcessGroup", ["grp", "BOGUS"]),
    ("signalAllProcesses", S + "signalAllProcesses", ["CONT"]),
    ("signalAllProcesses bad signal", S + "signalAllProcesses", ["BOGUS"]),
    # -- all processes: 'stubborn' holds stopAllProcesses for stopwaitsecs=4, then SIGKILL
    ("stopAllProcesses", S + "stopAllProcesses", []),
    ("stopAllProcesses none running", S + "stopAllProcesses", []),
    ("signalAllProcesses none running", S + "signalAllProcesses", ["CONT"]),
    ("signalProcess stopped", S + "signalProcess", ["app", "CONT"]),
    ("getProcessInfo killed", S + "getProcessInfo", ["stubborn"]),
    ("startAllProcesses again", S + "startAllProcesses", [True]),
    ("startAllProcesses all running", S + "startAllProcesses", []),
    (
        "system.multicall deferred",
        "system.multicall",
        [
            [
                {"methodName": S + "stopProcess", "params": ["app"]},
                {"methodName": S + "getProcessInfo", "params": ["app"]},
                {"methodName": S + "stopProcess", "params": ["app"]},
                {"methodName": S + "startProcess", "params": ["app", True]},
                {"methodName": S + "startProcess", "params": ["app"]},
                {"methodName": S + "signalProcess", "params": ["app", "BOGUS"]},
                {"methodName": S + "stopProcessGroup", "params": ["grp"]},
                {"methodName": S + "startProcessGroup", "params": ["grp"]},
                {"methodName": S + "getState", "params": []},
            ]
        ],
    ),
    # -- a config change on disk: reread, then apply it group by group
    ("write changed config", "#config", ["changed"]),
    ("reloadConfig changed", S + "reloadConfig", []),
    ("getAllConfigInfo after reread", S + "getAllConfigInfo", []),
    ("getAllProcessInfo after reread", S + "getAllProcessInfo", []),
    ("addProcessGroup added", S + "addProcessGroup", ["added"]),
    ("addProcessGroup added again", S + "addProcessGroup", ["added"]),
    ("getProcessInfo added", S + "getProcessInfo", ["added"]),
    ("removeProcessGroup nolog running", S + "removeProcessGroup", ["nolog"]),
    ("stopProcessGroup nolog", S + "stopProcessGroup", ["nolog"]),
    ("removeProcessGroup nolog", S + "removeProcessGroup", ["nolog"]),
    ("removeProcessGroup nolog again", S + "removeProcessGroup", ["nolog"]),
    ("addProcessGroup removed", S + "addProcessGroup", ["nolog"]),
    ("removeProcessGroup grp running", S + "removeProcessGroup", ["grp"]),
    ("stopProcessGroup grp", S + "stopProcessGroup", ["grp"]),
    ("removeProcessGroup grp", S + "removeProcessGroup", ["grp"]),
    ("getProcessInfo removed", S + "getProcessInfo", ["grp:g1"]),
    ("addProcessGroup grp", S + "addProcessGroup", ["grp"]),
    ("getAllConfigInfo after update", S + "getAllConfigInfo", []),
    ("startProcess changed", S + "startProcess", ["grp:g2"]),
    ("addProcessGroup notexec", S + "addProcessGroup", ["notexec"]),
    ("startProcess not executable", S + "startProcess", ["notexec"]),
    ("addProcessGroup quick", S + "addProcessGroup", ["quick"]),
    ("startProcess exits early", S + "startProcess", ["quick"]),
    ("getProcessInfo fatal", S + "getProcessInfo", ["quick"]),
    ("getAllProcessInfo after update", S + "getAllProcessInfo", []),
    ("reloadConfig applied", S + "reloadConfig", []),
    ("write broken config", "#config", ["broken"]),
    ("reloadConfig broken", S + "reloadConfig", []),
    ("getAllProcessInfo after broken", S + "getAllProcessInfo", []),
    ("write base config", "#config", ["base"]),
    ("reloadConfig back", S + "reloadConfig", []),
    # -- the main log gone from disk
    ("remove main.log", "#rm", ["main.log"]),
    ("readLog no file", S + "readLog", [0, 0]),
    ("clearLog no file", S + "clearLog", []),
    # -- restart: back on the base config, the main log reopened
    ("restart", S + "restart", []),
    ("wait restarted", "#wait_ready", []),
    # echo wrote its line once more on each start since its log was cleared
    ("wait echo.out restarted", "#wait_file", ["echo.out", "hello\nhello\n"]),
    ("getState restarted", S + "getState", []),
    ("getAllProcessInfo restarted", S + "getAllProcessInfo", []),
    ("readLog restarted", S + "readLog", [0, 10]),
]

# Calls made while the daemon is shutting down (after supervisor.shutdown).
SHUTDOWN_CASES: list[tuple[str, str, list[Any]]] = [
    ("shutting down: getState", S + "getState", []),
    ("shutting down: getAPIVersion", S + "getAPIVersion", []),
    ("shutting down: getPID", S + "getPID", []),
    ("shutting down: getProcessInfo", S + "getProcessInfo", ["app"]),
    ("shutting down: sendRemoteCommEvent", S + "sendRemoteCommEvent", ["t", "d"]),
    ("shutting down: system.listMethods", "system.listMethods", []),
    ("shutting down: shutdown", S + "shutdown", []),
]

# AUTO child logs carry a random suffix: `<name>-stdout---<identifier>-<random>.log`.
AUTO_LOG = re.compile(r"(---golden)-[A-Za-z0-9_]+\.log")

# Keys whose values change between runs: kept as their type name only.
VOLATILE = {"pid", "start", "stop", "now", "description"}


def normalize(value: Any, tmp: str) -> Any:
    """Reduce an answer to what must match exactly between supervisord and corrald."""
    if isinstance(value, dict):
        return {k: _leaf(k, v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, tmp) for v in value]
    if isinstance(value, str):
        return AUTO_LOG.sub(r"\1-<random>.log", value.replace(tmp, "<tmp>"))
    return value


def _leaf(key: str, value: Any, tmp: str) -> Any:
    if key == "description" and isinstance(value, str):
        return _describe_shape(value)
    if key in VOLATILE or (key == "uid" and isinstance(value, int)):
        return f"<{type(value).__name__}>"
    return normalize(value, tmp)


def _describe_shape(text: str) -> str:
    """Descriptions hold pids and clock times; keep only their form."""
    if text.startswith("pid "):
        return "pid <N>, uptime <H:MM:SS>"
    if text and text[0].isalpha() and text[:3].isalpha() and text[3:4] == " " and "M" in text:
        return "<%b %d %I:%M %p>"
    return text


def call(proxy: xmlrpc.client.ServerProxy, method: str, params: list[Any], tmp: str) -> Any:
    """One call, as {'result': ...} or {'fault': [code, string]}."""
    if not method:
        time.sleep(params[0])
        return {"result": None}
    if method.startswith("#"):
        return {"result": _step(proxy, method, params, tmp)}
    try:
        result = getattr(proxy, method)(*params)
    except xmlrpc.client.Fault as fault:
        return {"fault": [fault.faultCode, fault.faultString.replace(tmp, "<tmp>")]}
    except xmlrpc.client.ProtocolError as err:
        return {"http_error": err.errcode}
    if method.endswith(".getPID"):
        return {"result": f"<{type(result).__name__}>"}
    if method in (S + "readLog", S + "readMainLog") and isinstance(result, str):
        result = re.sub(r"[0-9]", "9", result)
    return {"result": normalize(result, tmp)}


def help_shape(answer: dict[str, Any]) -> dict[str, Any]:
    """system.methodHelp's answer reduced to its shape: the texts are each daemon's own."""
    text = answer.get("result")
    if isinstance(text, str):
        return {"result": "<non-empty string>" if text.strip() else "<empty string>"}
    return answer


# Programs RUNNING once the daemon has started (or restarted) on CONFIG.
AUTOSTARTED = {"app", "echo", "g1", "stubborn"}


def _step(proxy: xmlrpc.client.ServerProxy, step: str, params: list[Any], tmp: str) -> None:
    """A step between calls that is not a call: edit files, wait for the daemon."""
    if step == "#config":
        Path(tmp, CONFIG_FILE).write_text(CONFIGS[params[0]].format(tmp=tmp))
    elif step == "#rm":
        os.unlink(os.path.join(tmp, params[0]))
    elif step == "#wait_file":
        path = Path(tmp, params[0])
        _wait(lambda: path.exists() and path.read_text() == params[1], step)
    elif step == "#wait_ready":
        _wait(lambda: _running(proxy) >= AUTOSTARTED, step)
    else:
        raise ValueError(step)


def _running(proxy: xmlrpc.client.ServerProxy) -> set[str]:
    try:
        infos = proxy.supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError, http.client.HTTPException):
        return set()
    return {i["name"] for i in infos if i["statename"] == "RUNNING"}


def _wait(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        try:
            sock.connect(self.path)
        except OSError:  # e.g. while the daemon restarts
            sock.close()
            raise
        self.sock = sock


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # Cached where Transport.close() (ServerProxy's __exit__) will find and close it.
        if self._connection[1] is None or self._connection[0] != host:
            self._connection = host, UnixHTTPConnection(self.path)
        return self._connection[1]


def proxy_for(socket_path: str) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy("http://localhost", transport=UnixTransport(socket_path))


def raw_request(
    socket_path: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP request; the body is read only for non-streaming answers."""
    conn = UnixHTTPConnection(socket_path)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        data = b"" if "logtail" in path and resp.status == 200 else resp.read()
        return resp.status, hdrs, data
    finally:
        conn.close()


GET_API_VERSION_BODY = (
    b"<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getAPIVersion</methodName>\n"
    b"<params>\n</params>\n</methodCall>\n"
)

# Raw requests: (key, method, path, body). Status, chosen headers and (short) bodies kept.
RAW: list[tuple[str, str, str, bytes | None]] = [
    ("POST /RPC2 getAPIVersion", "POST", "/RPC2", GET_API_VERSION_BODY),
    ("GET /RPC2", "GET", "/RPC2", None),
    ("POST /RPC2 garbage", "POST", "/RPC2", b"this is not xml"),
    (
        "POST /RPC2 no methodName",
        "POST",
        "/RPC2",
        b"<?xml version='1.0'?><methodCall><params></params></methodCall>",
    ),
    (
        "POST /RPC2 no params",
        "POST",
        "/RPC2",
        b"<?xml version='1.0'?><methodCall><methodName>supervisor.getAPIVersion</methodName>"
        b"</methodCall>",
    ),
    (
        "POST /RPC2 i8 offsets",
        "POST",
        "/RPC2",
        b"<?xml version='1.0'?><methodCall><methodName>supervisor.readProcessStdoutLog"
        b"</methodName><params><param><value>echo</value></param>"
        b"<param><value><i8>0</i8></value></param><param><value><i8>0</i8></value></param>"
        b"</params></methodCall>",
    ),
    ("GET /ok.html", "GET", "/ok.html", None),
    ("GET /logtail/nosuch", "GET", "/logtail/nosuch", None),
    ("GET /logtail/nolog", "GET", "/logtail/nolog", None),
    ("GET /logtail/echo/bogus", "GET", "/logtail/echo/bogus", None),
    ("GET /logtail/echo", "GET", "/logtail/echo", None),
    ("GET /logtail/echo/stderr", "GET", "/logtail/echo/stderr", None),
    ("POST /logtail/echo", "POST", "/logtail/echo", b""),
    ("GET /mainlogtail", "GET", "/mainlogtail", None),
]

KEPT_HEADERS = ("content-type", "x-accel-buffering", "transfer-encoding")


def raw_case(socket_path: str, method: str, path: str, body: bytes | None) -> dict[str, Any]:
    status, hdrs, data = raw_request(socket_path, method, path, body)
    kept = {h: hdrs[h] for h in KEPT_HEADERS if h in hdrs}
    out: dict[str, Any] = {"status": status, "headers": kept}
    if "text/xml" in hdrs.get("content-type", "") or path == "/ok.html":
        out["body"] = data.decode("utf-8")
    return out
