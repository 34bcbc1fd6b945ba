"""HTTP Basic authentication: a server section's 4.3 username/password pair (every right) and
corral's [user:NAME] sections (their rights, api/rights.py), on every server.

Any failure (no header, another scheme, bad base64, no ':' in the token, wrong user or
password) is a 401 asking for Basic credentials. supervisord 4.3 answers a token without
':' with a 500; corral answers 401 on purpose. Failed logins are counted per source: past
FAILURES in WINDOW seconds the source gets 429 until the window has passed (said once in the
main log; no credential is ever logged).

Passwords: plain, `{SHA}<hex>` (4.3's), or `{SCRYPT}n=..,r=..,p=..$<salt>$<hash>` (base64),
which `corral hash-password` prints.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corral.api import rights
from corral.server.connection import Handler, Request, Response

REALM = 'Basic realm="default"'
FAILURES = 10
WINDOW = 60.0
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The {SCRYPT} form of a password (hashlib.scrypt, a random 16-byte salt)."""
    import hashlib
    import os

    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    params = f"n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}"
    return f"{{SCRYPT}}{params}${b64(salt).decode()}${b64(digest).decode()}"


def password_ok(configured: str, given: str) -> bool:
    # hmac and hashlib load libcrypto (~3.7 MiB RSS): imported on the first login only
    import hashlib
    import hmac

    if configured.startswith("{SHA}"):
        digest = hashlib.sha1(given.encode("utf-8")).hexdigest()
        return hmac.compare_digest(digest, configured[5:].lower())
    if configured.startswith("{SCRYPT}"):
        try:
            params, salt_b64, hash_b64 = configured[8:].split("$")
            p = dict(kv.split("=") for kv in params.split(","))
            salt, want = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
            got = hashlib.scrypt(
                given.encode("utf-8"),
                salt=salt,
                n=int(p["n"]),
                r=int(p["r"]),
                p=int(p["p"]),
                dklen=len(want),
                maxmem=2**27,
            )
        except (ValueError, KeyError, binascii.Error):
            return False
        return hmac.compare_digest(got, want)
    return hmac.compare_digest(given.encode("utf-8"), configured.encode("utf-8"))


@dataclass(frozen=True)
class Identity:
    user: str
    password: str
    rights: str = rights.ADMIN
    programs: tuple[str, ...] = ()


class BasicAuth:
    def __init__(self, identities: Sequence[Identity]) -> None:
        self._by_user = {i.user: i for i in reversed(identities)}  # the first one wins

    def check(self, authorization: str | None) -> bool:
        return self.caller(authorization, "") is not None

    def caller(self, authorization: str | None, source: str) -> rights.Caller | None:
        """Who the Authorization header proves to be, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not token:
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:
            return None
        import hmac

        found = None
        for name, identity in self._by_user.items():
            if hmac.compare_digest(user.encode(), name.encode()):
                found = identity
        if found is None or not password_ok(found.password, password):
            return None
        return rights.Caller(found.user, found.rights, found.programs, source)


def make_auth(
    username: str | None, password: str | None, users: Sequence[Identity] = ()
) -> BasicAuth | None:
    """None when the section sets no credentials and there are no [user:x] sections."""
    identities = list(users)
    if username is not None or password is not None:
        identities.insert(0, Identity(username or "", password or ""))
    return BasicAuth(identities) if identities else None


class LoginLimiter:
    """Failed logins per source; a source past FAILURES in WINDOW seconds is refused."""

    def __init__(self, warn: Callable[[str], None]) -> None:
        self._warn = warn
        self._failed: dict[str, list[float]] = {}

    def blocked(self, source: str) -> bool:
        times = self._failed.get(source)
        if not times:
            return False
        now = time.monotonic()
        times[:] = [t for t in times if now - t < WINDOW]
        if not times:
            del self._failed[source]
        return len(times) >= FAILURES

    def failed(self, source: str) -> None:
        times = self._failed.setdefault(source, [])
        times.append(time.monotonic())
        if len(times) == FAILURES:
            self._warn(
                f"{FAILURES} failed logins from {source} within {WINDOW:.0f} s: "
                f"refusing it (429) for the rest of that time"
            )
        if len(self._failed) > 10_000:  # many sources: keep the newest, bounded
            for key in list(self._failed)[:5_000]:
                del self._failed[key]


def _too_many() -> Response:
    body = b"Too many failed logins from here; try again in a minute.\n"
    return Response(429, body, {"Content-Type": "text/plain", "Retry-After": str(int(WINDOW))})


def require(
    auth: BasicAuth,
    handler: Handler,
    unauthorized: Callable[[], Response],
    limiter: LoginLimiter | None = None,
) -> Handler:
    """Every route requires credentials, as in 4.3 (RPC, log tails, UI, static files); the
    caller found is the request's (rights.CALLER). A refusal closes the connection, and the
    request body is never read."""

    async def check(request: Request) -> Response:
        source = request.peer
        if limiter is not None and limiter.blocked(source):
            response = _too_many()
            response.close = True
            return response
        header = request.headers.get("authorization")
        caller = auth.caller(header, source)
        if caller is not None:
            token = rights.CALLER.set(caller)
            try:
                return await handler(request)
            finally:
                rights.CALLER.reset(token)
        if header and limiter is not None:
            limiter.failed(source)
        response = unauthorized()
        response.headers["WWW-Authenticate"] = REALM
        response.close = True
        return response

    return check


def open_server(handler: Handler) -> Handler:
    """A server without credentials: every caller is admin (as in 4.3), known by source."""

    async def serve(request: Request) -> Response:
        token = rights.CALLER.set(rights.Caller("-", rights.ADMIN, (), request.peer))
        try:
            return await handler(request)
        finally:
            rights.CALLER.reset(token)

    return serve
