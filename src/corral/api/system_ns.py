"""The `system.*` namespace: introspection and multicall, over a Registry's method table."""

from __future__ import annotations

from typing import Any

from corral.api.dispatch import Method, Param, Registry, failed_fault, fault
from corral.wire.faults import FaultCode
from corral.wire.xmlrpc import Fault


class SystemNamespace:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def list_methods(self) -> list[str]:
        return self.registry.names()

    def method_help(self, name: str) -> str:
        method = self.registry.get(name)
        if method is None:
            raise fault(FaultCode.SIGNATURE_UNSUPPORTED)
        return method.help

    def method_signature(self, name: str) -> list[str]:
        method = self.registry.get(name)
        if method is None:
            raise fault(FaultCode.SIGNATURE_UNSUPPORTED)
        return method.signature

    async def multicall(self, calls: list[Any]) -> list[Any]:
        """Run calls in order, one at a time. Each answer is the bare value (as 4.3 sends
        it, not wrapped in a one-element array) or a {faultCode, faultString} struct."""
        results: list[Any] = []
        for call in calls:
            try:
                results.append(await self._one(call))
            except Fault as exc:
                results.append({"faultCode": exc.faultCode, "faultString": exc.faultString})
        return results

    async def _one(self, call: Any) -> Any:
        if not isinstance(call, dict):
            raise fault(FaultCode.INCORRECT_PARAMETERS, "each call must be a struct")
        name = call.get("methodName")
        params = call.get("params", [])
        if name is None:
            raise fault(FaultCode.INCORRECT_PARAMETERS, "No methodName")
        if name == "system.multicall":
            raise fault(FaultCode.INCORRECT_PARAMETERS, "Recursive system.multicall forbidden")
        try:
            return await self.registry.call(name, params)
        except Fault:
            raise
        except Exception as exc:  # Registry.call already converts; this is a last guard
            raise failed_fault(exc)

    def methods(self) -> list[Method]:
        name = Param("name", "string")
        return [
            Method(
                "system.listMethods",
                self.list_methods,
                "array",
                (),
                "Return the names of every callable method, sorted.",
            ),
            Method(
                "system.methodHelp",
                self.method_help,
                "string",
                (name,),
                "Return a short description of the named method.",
            ),
            Method(
                "system.methodSignature",
                self.method_signature,
                "array",
                (name,),
                "Return [return type, parameter types...] of the named method.",
            ),
            Method(
                "system.multicall",
                self.multicall,
                "array",
                (Param("calls", "array"),),
                "Run a list of {methodName, params} calls in order; return one answer "
                "or fault struct per call.",
            ),
        ]
