"""corrald: the daemon's entry point and start-up."""

from corral.runtime.lean import import_asyncio_without_ssl

# Before anything below imports asyncio: a daemon without TLS never maps libssl/libcrypto.
import_asyncio_without_ssl()
