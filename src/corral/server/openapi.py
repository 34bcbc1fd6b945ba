"""The OpenAPI 3.1 description of /api/v1 (served at /api/v1/openapi.json; a test holds the
routes of jsonapi.py to it)."""

from __future__ import annotations

from typing import Any

from corral import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_BOOL_ = {"type": "boolean"}
_ERRORS = {
    "400": _json(_ref("Error"), "Bad arguments"),
    "401": {"description": "Credentials needed"},
    "403": _json(_ref("Error"), "A browser's POST without the dashboard's token"),
    "404": _json(_ref("Error"), "No such process or group (BAD_NAME)"),
    "409": _json(_ref("Error"), "Already started / not running"),
    "415": _json(_ref("Error"), "A POST that is not application/json"),
    "503": _json(_ref("Error"), "The daemon is shutting down"),
}
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "A namespec: `group:name`, or the plain name of a group of one",
    "schema": {"type": "string"},
}
_WAIT = {
    "name": "wait",
    "in": "query",
    "description": "false: return once asked, not when done",
    "schema": {"type": "boolean", "default": True},
}


def _action(summary: str, *, body: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": [_NAME, _WAIT] if body is None else [_NAME],
        "requestBody": {
            "required": body is not None,
            "content": {"application/json": {"schema": body or {"type": "object"}}},
        },
        "responses": {"200": _json(_ref("ActionResult")), **_ERRORS},
    }
    return {"post": op}


PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/processes": {
        "get": {
            "summary": "Every process, with corral's fields (corral.getAllProcessInfo)",
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"processes": {"type": "array", "items": _ref("Process")}},
                        "required": ["processes"],
                    }
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/processes/{name}": {
        "get": {
            "summary": "One process (corral.getProcessInfo)",
            "parameters": [_NAME],
            "responses": {"200": _json(_ref("Process")), **_ERRORS},
        }
    },
    "/api/v1/processes/{name}/log": {
        "get": {
            "summary": "A piece of a log, as tailProcessStdoutLog gives it",
            "parameters": [
                _NAME,
                {
                    "name": "channel",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["stdout", "stderr"]},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "default": 0}},
                {"name": "length", "in": "query", "schema": {"type": "integer", "default": 1600}},
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "offset": {"type": "integer"},
                            "overflow": {"type": "boolean"},
                        },
                        "required": ["text", "offset", "overflow"],
                    }
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/processes/{name}/exits": {
        "get": {
            "summary": "Its last exits, oldest first: time, state, exitstatus, expected, why",
            "parameters": [_NAME],
            "responses": {"200": _json({"type": "object"}), **_ERRORS},
        }
    },
    "/api/v1/processes/{name}/config": {
        "get": {
            "summary": "Its config as the daemon read it (its getAllConfigInfo entry)",
            "parameters": [_NAME],
            "responses": {"200": _json({"type": "object"}), **_ERRORS},
        }
    },
    "/api/v1/processes/{name}/start": _action("Start a process"),
    "/api/v1/processes/{name}/stop": _action("Stop a process"),
    "/api/v1/processes/{name}/restart": _action("Stop (if running), then start"),
    "/api/v1/processes/{name}/signal": _action(
        "Send a signal",
        body={
            "type": "object",
            "properties": {"signal": {"type": ["string", "integer"]}},
            "required": ["signal"],
        },
    ),
    "/api/v1/processes/{name}/clear": _action("Clear its log files"),
    "/api/v1/all/{action}": {
        "post": {
            "summary": "start, stop or restart every process (4.3's *AllProcesses results)",
            "parameters": [
                {
                    "name": "action",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": ["start", "stop", "restart"]},
                },
                _WAIT,
            ],
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"ok": _BOOL_, "results": {"type": "array"}},
                        "required": ["ok", "results"],
                    }
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/daemon": {
        "get": {
            "summary": "The daemon: version, supervisor_version, identifier, state, pid",
            "responses": {"200": _json({"type": "object"}), **_ERRORS},
        }
    },
    "/api/v1/daemon/shutdown": {
        "post": {
            "summary": "Stop every process and the daemon (supervisor.shutdown; admin)",
            "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {"200": _json({"type": "object"}), **_ERRORS},
        }
    },
    "/api/v1/plan": {
        "get": {
            "summary": "What `update` would do (corral.plan); changes nothing",
            "parameters": [
                {
                    "name": "group",
                    "in": "query",
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "explode": True,
                }
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {"steps": {"type": "array", "items": _ref("Step")}},
                        "required": ["steps"],
                    }
                ),
                **_ERRORS,
            },
        }
    },
    "/api/v1/events": {
        "get": {
            "summary": "Server-Sent Events: `state` and `group` events, with ids "
            "(Last-Event-ID replays what is still kept; `reset` when more was missed)",
            "responses": {
                "200": {"description": "An event stream", "content": {"text/event-stream": {}}}
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"})},
        }
    },
}

_STRING, _INT, _BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": _INT, "name": _STRING, "message": _STRING},
                "required": ["code", "name", "message"],
            }
        },
        "required": ["error"],
    },
    "Process": {
        "type": "object",
        "description": "Supervisor 4.3's process info, then corral's fields",
        "properties": {
            **{
                k: _STRING
                for k in (
                    "name",
                    "group",
                    "statename",
                    "spawnerr",
                    "logfile",
                    "stdout_logfile",
                    "stderr_logfile",
                    "description",
                    "ready_check",
                    "health",
                    "health_detail",
                    "notify_status",
                    "waiting_for",
                )
            },
            **{k: _INT for k in ("start", "stop", "now", "state", "exitstatus", "pid", "restarts")},
            "ready": _BOOL,
            "depends_on": {"type": "array", "items": _STRING},
        },
        "required": ["name", "group", "state", "statename", "pid"],
    },
    "ActionResult": {
        "type": "object",
        "properties": {"ok": _BOOL, "process": {"oneOf": [_ref("Process"), {"type": "null"}]}},
        "required": ["ok"],
    },
    "Step": {
        "type": "object",
        "properties": {
            **{k: _STRING for k in ("group", "process", "name", "action", "reason", "note")},
            "keys": {"type": "array", "items": _STRING},
            "deferred": _BOOL,
        },
        "required": ["group", "process", "name", "action", "reason"],
    },
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "corral",
            "version": __version__,
            "description": "corrald's JSON API: the XML-RPC API's data and actions in JSON. "
            "Same credentials as /RPC2 (HTTP Basic). Errors carry the XML-RPC fault code.",
        },
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
        "security": [{"basic": []}],
    }
