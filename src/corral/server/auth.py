"""HTTP Basic authentication for the [unix_http_server] / [inet_http_server] sections.

Any failure (no header, another scheme, bad base64, no ':' in the token, wrong user or
password) is a 401 asking for Basic credentials. supervisord 4.3 answers a token without
':' with a 500; corral answers 401 on purpose.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from corral.server.connection import Handler, Request, Response

REALM = 'Basic realm="default"'


class BasicAuth:
    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def check(self, authorization: str | None) -> bool:
        """True when the Authorization header carries this user's credentials."""
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not token:
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        # hmac and hashlib load libcrypto (~3.7 MiB RSS): imported on the first login only
        import hmac

        user_ok = hmac.compare_digest(user.encode(), self.username.encode())
        return user_ok and self._password_ok(password)

    def _password_ok(self, given: str) -> bool:
        import hashlib
        import hmac

        # A configured password of '{SHA}<hex>' is the SHA-1 of the real one.
        if self.password.startswith("{SHA}"):
            digest = hashlib.sha1(given.encode("utf-8")).hexdigest()
            return hmac.compare_digest(digest, self.password[5:].lower())
        return hmac.compare_digest(given.encode("utf-8"), self.password.encode("utf-8"))


def make_auth(username: str | None, password: str | None) -> BasicAuth | None:
    """None when the section sets no credentials (config validation requires both or none)."""
    if username is None and password is None:
        return None
    return BasicAuth(username or "", password or "")


def require(auth: BasicAuth, handler: Handler, unauthorized: Callable[[], Response]) -> Handler:
    """Every route requires the credentials, as in 4.3 (RPC, log tails, UI, static files).
    A refusal closes the connection, and the request body is never read."""

    async def check(request: Request) -> Response:
        if auth.check(request.headers.get("authorization")):
            return await handler(request)
        response = unauthorized()
        response.headers["WWW-Authenticate"] = REALM
        response.close = True
        return response

    return check
