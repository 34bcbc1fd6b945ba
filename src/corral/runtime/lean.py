"""Load asyncio without the ssl module, and give it back when TLS is wanted.

asyncio imports ssl eagerly, which maps libssl and libcrypto into the daemon: about 4.5 MiB
of RSS for a daemon that serves no TLS (most of them: a unix socket, or loopback HTTP). The
daemon imports asyncio through here first; a TLS server (before it is created) and the first
https probe call `asyncio_ssl()`, which imports ssl and hands it to the asyncio modules that
hold it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

# The asyncio modules that keep `ssl` as a module global (None when it was not importable).
_HOLDERS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


def import_asyncio_without_ssl() -> None:
    """Import asyncio with ssl hidden, unless either is already loaded (then nothing to save)."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # makes `import ssl` raise ImportError
    try:
        importlib.import_module("asyncio")
    finally:
        del sys.modules["ssl"]


def asyncio_ssl() -> ModuleType:
    """Import ssl and make asyncio's TLS support work again; returns the ssl module."""
    ssl = importlib.import_module("ssl")
    for name in _HOLDERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", None) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        # computed at import time only when ssl was there
        sslproto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]
    return ssl
