"""Method table, request parsing, argument checks and fault translation for XML-RPC.

Only methods added to a `Registry` can be called: a name is looked up whole in a dict,
never resolved by attribute traversal. Errors, as the caller sees them:

    BadRequest                      body unparsable / no method name -> HTTP 400
    Fault UNKNOWN_METHOD            not exactly 'ns.method', leading '_', or not in the table
    Fault INCORRECT_PARAMETERS      wrong argument count or type
    Fault SHUTDOWN_STATE            guarded method while the daemon shuts down or reloads
    Fault <code>                    a runtime.errors.RuntimeFault raised by the method
    Fault FAILED                    anything else the method raised (logged; never a crash)
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from corral.api import LoggerLike, rights
from corral.runtime.errors import RuntimeFault
from corral.wire.faults import FaultCode, fault_string
from corral.wire.xmlrpc import Fault, dumps_fault, dumps_response, loads_call


class BadRequest(Exception):
    """The request body is not an XML-RPC call we can read (answered with HTTP 400)."""


REQUIRED: Any = object()  # Param.default for arguments that must be given


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # the XML-RPC type methodSignature reports: string, int, boolean, array, struct
    default: Any = REQUIRED
    strict: bool = True  # False: passed through unchecked, the method reports its own fault


@dataclass(frozen=True)
class Method:
    name: str  # 'namespace.method'
    func: Callable[..., Any]  # plain or async; called with the checked arguments
    returns: str
    params: tuple[Param, ...] = ()
    help: str = ""
    guarded: bool = False  # raises SHUTDOWN_STATE while the daemon is stopping

    @property
    def signature(self) -> list[str]:
        return [self.returns, *(p.type for p in self.params)]


def fault(code: FaultCode, detail: str | None = None) -> Fault:
    return Fault(int(code), fault_string(code, detail))


def failed_fault(exc: BaseException) -> Fault:
    """An unexpected exception, worded as Supervisor words it: 'FAILED: <class>:<message>'."""
    return fault(FaultCode.FAILED, f"{type(exc)!s}:{exc}")


class Registry:
    def __init__(
        self,
        log: LoggerLike | None = None,
        shutting_down: Callable[[], bool] = lambda: False,
    ) -> None:
        self._methods: dict[str, Method] = {}
        # calls by (method, 'ok' | 'fault'), for /metrics; unknown names count as 'unknown'
        self.counts: dict[tuple[str, str], int] = {}
        # the audit file's writer, when [supervisord] audit_logfile is set
        self.audit: Callable[[rights.Caller, str, str, str], None] | None = None
        self._log = log
        self.shutting_down = shutting_down

    def add(self, method: Method) -> None:
        namespace, _, short = method.name.partition(".")
        if not namespace or not short or "." in short or short.startswith("_"):
            raise ValueError(f"not a callable XML-RPC name: {method.name!r}")
        self._methods[method.name] = method

    def add_all(self, methods: Iterable[Method]) -> None:
        for method in methods:
            self.add(method)

    def names(self) -> list[str]:
        return sorted(self._methods)

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def lookup(self, name: object) -> Method:
        if not isinstance(name, str):
            raise fault(FaultCode.UNKNOWN_METHOD)
        parts = name.split(".")
        if len(parts) != 2 or parts[1].startswith("_"):
            raise fault(FaultCode.UNKNOWN_METHOD)
        method = self._methods.get(name)
        if method is None:
            raise fault(FaultCode.UNKNOWN_METHOD)
        return method

    async def call(self, name: object, params: Sequence[Any]) -> Any:
        """Run one call; every failure comes out as a Fault."""
        known = name if isinstance(name, str) and name in self._methods else "unknown"
        try:
            result = await self._call(name, params)
        except Fault:
            key = (known, "fault")
            self.counts[key] = self.counts.get(key, 0) + 1
            raise
        key = (known, "ok")
        self.counts[key] = self.counts.get(key, 0) + 1
        return result

    async def _call(self, name: object, params: Sequence[Any]) -> Any:
        method = self.lookup(name)
        caller = rights.current()
        why = rights.denial(caller, method.name, list(params))
        if why is not None:
            self._audit(caller, method.name, params, f"denied: {why}")
            raise fault(FaultCode.FAILED, f"denied: {why}")
        if not rights.changes_something(method.name):
            return await self._run(method, params)
        try:
            result = await self._run(method, params)
        except Fault as exc:
            self._audit(caller, method.name, params, f"fault {exc.faultString}")
            raise
        self._audit(caller, method.name, params, "ok")
        return result

    def _audit(
        self, caller: rights.Caller, method: str, params: Sequence[Any], result: str
    ) -> None:
        """One INFO line per call that changes something (or was refused)."""
        if self._log is None:
            return
        shown = list(params)
        if method == "supervisor.sendProcessStdin" and len(shown) > 1:
            shown[1] = _Hidden(f"<{len(str(shown[1]))} characters>")  # may be a secret
        args = ", ".join(_short(p) for p in shown)
        self._log.info(
            f"audit: user={caller.user} source={caller.source or '-'} {method}({args}) {result}"
        )
        if self.audit is not None:
            self.audit(caller, method, args, result)

    async def _run(self, method: Method, params: Sequence[Any]) -> Any:
        args = bind(method, params)
        if method.guarded and self.shutting_down():
            raise fault(FaultCode.SHUTDOWN_STATE)
        try:
            result = method.func(*args)
            if inspect.isawaitable(result):
                result = await result
        except Fault:
            raise
        except RuntimeFault as exc:
            raise fault(exc.code, exc.detail)
        except Exception as exc:
            self._error(f"XML-RPC method {method.name}() raised: {traceback.format_exc()}")
            raise failed_fault(exc)
        return result

    async def handle(self, body: bytes) -> bytes:
        """One POST /RPC2: request body in, methodResponse body out."""
        method, params = parse_request(body)
        self._trace(f"XML-RPC method called: {method}()")
        try:
            value = await self.call(method, params)
        except Fault as exc:
            self._trace(
                f"XML-RPC method {method}() returned fault: [{exc.faultCode}] {exc.faultString}"
            )
            return marshal_fault(exc)
        self._trace(f"XML-RPC method {method}() returned successfully")
        try:
            return marshal(value)
        except Exception as exc:  # e.g. None or an int beyond 32 bits in a result
            self._error(f"XML-RPC method {method}() result cannot be marshalled: {exc!r}")
            return marshal_fault(failed_fault(exc))

    def _error(self, msg: str) -> None:
        if self._log is not None:
            self._log.error(msg)

    def _trace(self, msg: str) -> None:
        if self._log is not None:
            self._log.trace(msg)


class _Hidden(str):
    def __repr__(self) -> str:
        return str(self)


def _short(value: object) -> str:
    """An argument as the audit log shows it: repr, cut at 80 characters (stdin data...)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def bind(method: Method, params: Sequence[Any]) -> list[Any]:
    """Check count and types of the arguments; apply defaults."""
    if not isinstance(params, list | tuple) or len(params) > len(method.params):
        raise fault(FaultCode.INCORRECT_PARAMETERS)
    args: list[Any] = []
    for i, param in enumerate(method.params):
        if i < len(params):
            args.append(_coerce(param, params[i]))
        elif param.default is REQUIRED:
            raise fault(FaultCode.INCORRECT_PARAMETERS)
        else:
            args.append(param.default)
    return args


def _coerce(param: Param, value: Any) -> Any:
    if not param.strict:
        return value
    kind = param.type
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "int":
        if isinstance(value, int):
            return int(value)
        # 4.3 reads i8 (and other unknown tags) as text, then int()s offsets: keep that working.
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    if kind == "boolean" and isinstance(value, int):
        return bool(value)
    if kind == "array" and isinstance(value, list):
        return value
    if kind == "struct" and isinstance(value, dict):
        return value
    raise fault(FaultCode.INCORRECT_PARAMETERS)


# -- wire format ------------------------------------------------------------------------


def marshal(value: Any) -> bytes:
    return dumps_response(value)


def marshal_fault(exc: Fault) -> bytes:
    return dumps_fault(exc.faultCode, exc.faultString)


def parse_request(body: bytes) -> tuple[str, list[Any]]:
    """(method name, params) of a methodCall, read as supervisord 4.3 reads it; see
    `corral.wire.xmlrpc.loads_call`."""
    try:
        return loads_call(body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
