"""The XML-RPC surface: Supervisor's `supervisor.*` and `system.*` namespaces, translation only.

The api reads the runtime's `Supervisor`, `Group` and `Process` (attributes and the few
coroutines it offers) and turns domain errors into XML-RPC faults. It holds no
state of its own beyond the method table.

    registry = make_registry(sup, log)        # once per daemon (re-made on reload)
    body_out = await registry.handle(body_in)  # one HTTP POST /RPC2; BadRequest -> HTTP 400
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # The runtime's classes are imported for type checking only, here and in the other
    # api modules: the api loads without the runtime's dependencies, and tests drive it
    # with a small stand-in of the same shape.
    from corral.api.dispatch import Registry
    from corral.runtime.supervisor import Supervisor as SupervisorLike


class LoggerLike(Protocol):
    """The daemon's main log, as far as the api and the server write to it."""

    def critical(self, msg: str) -> None: ...
    def error(self, msg: str) -> None: ...
    def warn(self, msg: str) -> None: ...
    def info(self, msg: str) -> None: ...
    def debug(self, msg: str) -> None: ...
    def trace(self, msg: str) -> None: ...


def make_registry(sup: SupervisorLike, log: LoggerLike | None = None) -> Registry:
    """Both namespaces of Supervisor's API, bound to one daemon."""
    from corral.api.corral_ns import CorralNamespace
    from corral.api.dispatch import Registry
    from corral.api.supervisor_ns import SupervisorNamespace
    from corral.api.system_ns import SystemNamespace

    registry = Registry(log=log, shutting_down=lambda: sup.stopping)
    registry.add_all(SupervisorNamespace(sup).methods())
    registry.add_all(CorralNamespace(sup).methods())
    registry.add_all(SystemNamespace(registry).methods())
    return registry


__all__ = ["LoggerLike", "make_registry"]
