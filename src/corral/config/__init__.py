"""Config text -> one frozen `Config`, or `ConfigError` naming file, line and message.

Public API: `load`, `load_ctl`, `find_config_file`, `DEFAULT_SEARCH_PATHS`, `diff`,
`ReloadPlan`, `plan_update` and `UpdatePlan` (the per-key diff), plus the model classes.
Submodules are imported lazily so `corralctl`, which only needs `load_ctl`, does not pay for
the daemon's parts.
"""

from __future__ import annotations

import os

# Eager: the submodule is named like the function, so it must be imported (then shadowed)
# here; diff.py and errors.py import nothing heavy.
from corral.config.diff import ReloadPlan, diff
from corral.config.errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from corral.config.build import load
    from corral.config.ctlconf import CtlConfig, load_ctl
    from corral.config.model import AUTO, Config, GroupConfig, Warning_
    from corral.config.plan import UpdatePlan, plan_update

__all__ = [
    "AUTO",
    "DEFAULT_SEARCH_PATHS",
    "Config",
    "ConfigError",
    "CtlConfig",
    "GroupConfig",
    "ReloadPlan",
    "UpdatePlan",
    "Warning_",
    "diff",
    "find_config_file",
    "load",
    "load_ctl",
    "plan_update",
]

# Lazy, so that corralctl (the package, errors, ctlconf, ini) never loads the model.
_LAZY = {
    "load": "corral.config.build",
    "load_ctl": "corral.config.ctlconf",
    "CtlConfig": "corral.config.ctlconf",
    "AUTO": "corral.config.model",
    "Config": "corral.config.model",
    "GroupConfig": "corral.config.model",
    "Warning_": "corral.config.model",
    "UpdatePlan": "corral.config.plan",
    "plan_update": "corral.config.plan",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'corral.config' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def DEFAULT_SEARCH_PATHS(argv0: str) -> list[str]:
    """Where supervisord looks for its config without -c, first existing wins."""
    here = os.path.dirname(os.path.dirname(argv0))
    return [
        os.path.join(here, "etc", "supervisord.conf"),
        os.path.join(here, "supervisord.conf"),
        "supervisord.conf",
        "etc/supervisord.conf",
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ]


def find_config_file(argv0: str) -> str | None:
    for path in DEFAULT_SEARCH_PATHS(argv0):
        if os.path.exists(path):
            return path
    return None
