"""`/api/v1`: the same API as XML-RPC, in JSON, for scripts and the dashboard.

Every route is a thin translation onto the XML-RPC registry, so names, checks and fault codes
are the same: a fault comes back as `{"error": {"code", "name", "message"}}` with a fitting
HTTP status. Behind the server's auth check, as /RPC2 is. A POST must say
`Content-Type: application/json` (a cross-site HTML form cannot), and a POST from a browser
(it sends Origin) must carry the dashboard's token: a browser holding the credentials cannot
be made to act by another page (4.3's UI acts on GET links).

    GET  /api/v1/processes                     corral.getAllProcessInfo
    GET  /api/v1/processes/{name}              corral.getProcessInfo
    GET  /api/v1/processes/{name}/config       its getAllConfigInfo entry
    GET  /api/v1/processes/{name}/exits        its last exits (corral.getExits)
    GET  /api/v1/processes/{name}/log          ?channel=stdout|stderr&offset=N&length=M
    POST /api/v1/processes/{name}/start|stop|restart   ?wait=false to return at once
    POST /api/v1/processes/{name}/signal       {"signal": "HUP"}
    POST /api/v1/processes/{name}/clear        clear its log files
    POST /api/v1/all/start|stop|restart        every process (4.3's *AllProcesses results)
    GET  /api/v1/daemon                        version, pid, state, identifier
    POST /api/v1/daemon/shutdown               supervisor.shutdown
    GET  /api/v1/plan                          ?group=a&group=b: corral.plan
    GET  /api/v1/events                        Server-Sent Events (sse.py)
    GET  /api/v1/openapi.json                  this, described
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from corral.api.dispatch import Registry
from corral.server.connection import Request, Response
from corral.wire.faults import FaultCode
from corral.wire.xmlrpc import Fault

if TYPE_CHECKING:
    from corral.runtime.supervisor import Supervisor as SupervisorLike
    from corral.server.sse import EventHub

PREFIX = "/api/v1"

# fault code -> HTTP status
_STATUS = {
    FaultCode.UNKNOWN_METHOD: 404,
    FaultCode.INCORRECT_PARAMETERS: 400,
    FaultCode.BAD_ARGUMENTS: 400,
    FaultCode.BAD_NAME: 404,
    FaultCode.BAD_SIGNAL: 400,
    FaultCode.NO_FILE: 404,
    FaultCode.NOT_EXECUTABLE: 400,
    FaultCode.ALREADY_STARTED: 409,
    FaultCode.NOT_RUNNING: 409,
    FaultCode.ALREADY_ADDED: 409,
    FaultCode.STILL_RUNNING: 409,
    FaultCode.CANT_REREAD: 400,
    FaultCode.SHUTDOWN_STATE: 503,
}
_JSON = {"Content-Type": "application/json", "Cache-Control": "no-store"}


def json_response(status: int, value: object) -> Response:
    body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body + b"\n", dict(_JSON))


def error(status: int, code: int, name: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "name": name, "message": message}})


def bad(message: str, status: int = 400) -> Response:
    """A request the API refuses before any call: BAD_ARGUMENTS, with a fitting status."""
    return error(status, int(FaultCode.BAD_ARGUMENTS), FaultCode.BAD_ARGUMENTS.name, message)


def fault_response(fault: Fault) -> Response:
    try:
        code = FaultCode(fault.faultCode)
    except ValueError:
        return error(500, fault.faultCode, "UNKNOWN", fault.faultString)
    message = fault.faultString.partition(": ")[2] or fault.faultString
    if code is FaultCode.FAILED and message.startswith("denied: "):
        return error(403, int(code), "DENIED", message.removeprefix("denied: "))
    return error(_STATUS.get(code, 500), int(code), code.name, message)


def _not_found(what: str) -> Response:
    code = FaultCode.UNKNOWN_METHOD
    return error(404, int(code), code.name, f"no such route: {what}")


class JsonApi:
    def __init__(self, registry: Registry, hub: EventHub, token: str, sup: SupervisorLike) -> None:
        self.registry = registry
        self.hub = hub
        self.token = token
        self.sup = sup

    async def _call(self, method: str, *params: Any) -> Any:
        return await self.registry.call(method, list(params))

    async def handle(self, request: Request) -> Response:
        parts = [p for p in request.path[len(PREFIX) :].split("/") if p]
        query = parse_qs(request.query)
        method = request.method
        try:
            if method in ("GET", "HEAD"):
                return await self._get(request, parts, query)
            if method == "POST":
                return await self._post(request, parts, query)
        except Fault as fault:
            return fault_response(fault)
        code = FaultCode.UNKNOWN_METHOD
        return error(405, int(code), code.name, f"{method} is not allowed here")

    async def _get(
        self, request: Request, parts: list[str], query: dict[str, list[str]]
    ) -> Response:
        if parts == ["processes"]:
            return json_response(200, {"processes": await self._call("corral.getAllProcessInfo")})
        if len(parts) == 2 and parts[0] == "processes":
            return json_response(200, await self._call("corral.getProcessInfo", parts[1]))
        if len(parts) == 3 and parts[0] == "processes" and parts[2] == "log":
            return await self._log(parts[1], query)
        if len(parts) == 3 and parts[0] == "processes" and parts[2] == "exits":
            return json_response(200, {"exits": await self._call("corral.getExits", parts[1])})
        if len(parts) == 3 and parts[0] == "processes" and parts[2] == "config":
            return await self._config(parts[1])
        if parts == ["daemon"]:
            return json_response(200, await self._daemon())
        if parts == ["plan"]:
            return json_response(
                200, {"steps": await self._call("corral.plan", query.get("group", []))}
            )
        if parts == ["events"]:
            return self.hub.stream(request, query)
        if parts == ["openapi.json"]:
            from corral.server.openapi import document

            return json_response(200, document())
        return _not_found(request.path)

    async def _config(self, name: str) -> Response:
        """The process's entry of getAllConfigInfo (its config as the daemon read it)."""
        info = await self._call("corral.getProcessInfo", name)  # BAD_NAME for a bad name
        for entry in await self._call("supervisor.getAllConfigInfo"):
            if entry["group"] == info["group"] and entry["name"] == info["name"]:
                return json_response(200, entry)
        code = FaultCode.BAD_NAME
        return error(404, int(code), code.name, f"{name}: no config (removed by reread)")

    async def _daemon(self) -> dict[str, Any]:
        from corral import __version__

        return {
            "version": __version__,
            "supervisor_version": await self._call("supervisor.getSupervisorVersion"),
            "identifier": await self._call("supervisor.getIdentification"),
            "state": (await self._call("supervisor.getState"))["statename"],
            "pid": await self._call("supervisor.getPID"),
        }

    async def _log(self, name: str, query: dict[str, list[str]]) -> Response:
        channel = _one(query, "channel", "stdout")
        if channel not in ("stdout", "stderr"):
            return bad("channel: stdout or stderr")
        try:
            offset = int(_one(query, "offset", "0"))
            length = int(_one(query, "length", "1600"))
        except ValueError:
            return bad("offset and length are integers")
        method = f"supervisor.tailProcess{channel.capitalize()}Log"
        text, next_offset, overflow = await self._call(method, name, offset, length)
        return json_response(200, {"text": text, "offset": next_offset, "overflow": overflow})

    async def _post(
        self, request: Request, parts: list[str], query: dict[str, list[str]]
    ) -> Response:
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind != "application/json":
            return bad("a POST must be Content-Type: application/json", 415)
        origin = request.headers.get("origin")
        if origin is not None and request.headers.get("x-corral-token") != self.token:
            # a browser: only the daemon's own page knows the token
            return bad("a browser's POST needs the dashboard's X-Corral-Token", 403)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            return bad(f"body is not JSON: {e}")
        if not isinstance(body, dict):
            return bad("body must be an object")
        wait = _one(query, "wait", "true").lower() not in ("false", "0", "no")
        if len(parts) == 2 and parts[0] == "all":
            return await self._all(parts[1], wait)
        if parts == ["daemon", "shutdown"]:
            await self._call("supervisor.shutdown")
            return json_response(200, {"ok": True})
        if len(parts) != 3 or parts[0] != "processes":
            return _not_found(request.path)
        name, action = parts[1], parts[2]
        if action == "start":
            await self._call("supervisor.startProcess", name, wait)
        elif action == "stop":
            await self._call("supervisor.stopProcess", name, wait)
        elif action == "restart":
            try:
                await self._call("supervisor.stopProcess", name, True)
            except Fault as fault:
                if fault.faultCode != FaultCode.NOT_RUNNING:
                    raise
            await self._call("supervisor.startProcess", name, wait)
        elif action == "clear":
            await self._call("supervisor.clearProcessLogs", name)
        elif action == "signal":
            sig = body.get("signal")
            if not isinstance(sig, (str, int)) or isinstance(sig, bool):
                return bad('give {"signal": "HUP"}')
            await self._call("supervisor.signalProcess", name, str(sig))
        else:
            return _not_found(request.path)
        return json_response(200, {"ok": True, "process": await self._info(name)})

    async def _all(self, action: str, wait: bool) -> Response:
        """start, stop or restart every process: the results of 4.3's *AllProcesses."""
        if action == "restart":
            stopped = await self._call("supervisor.stopAllProcesses", True)
            started = await self._call("supervisor.startAllProcesses", wait)
            return json_response(200, {"ok": True, "results": stopped + started})
        if action in ("start", "stop"):
            results = await self._call(f"supervisor.{action}AllProcesses", wait)
            return json_response(200, {"ok": True, "results": results})
        return _not_found(f"{PREFIX}/all/{action}")

    async def _info(self, name: str) -> Any:
        try:
            return await self._call("corral.getProcessInfo", name)
        except Fault:
            return None  # a group name: its processes are in /processes


def _one(query: dict[str, list[str]], key: str, default: str) -> str:
    values = query.get(key)
    return values[-1] if values else default
