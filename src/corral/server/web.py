"""The dashboard's files (`server/web/`), served at `/` behind the server's auth.

4.3's bookmarked pages lead to the same views: `/index.html` is the process list,
`/tail.html?processname=x` the process's page. The page carries a token that the JSON API
asks of every POST a browser sends (jsonapi.py): a page from elsewhere cannot read it.
"""

from __future__ import annotations

import html
from pathlib import Path

from corral.server.connection import Request, Response

WEB = Path(__file__).parent / "web"
PAGES = frozenset({"/", "/index.html", "/tail.html"})
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # everything is ours: no inline script, no other origin, not framed by another site
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


class Dashboard:
    def __init__(self, token: str) -> None:
        self._token = token
        self._files: dict[str, bytes] = {}

    def _read(self, name: str) -> bytes:
        data = self._files.get(name)
        if data is None:
            data = self._files[name] = (WEB / name).read_bytes()
        return data

    def serve(self, request: Request, right: str = "admin") -> Response | None:
        """A dashboard file, or None when the path is not one. `right`: the caller's (a
        read-only user's page shows no actions; the API would refuse them anyway)."""
        path = request.path
        if request.method not in ("GET", "HEAD"):
            return None
        if path in PAGES:
            page = (
                self._read("index.html")
                .replace(b"{{token}}", html.escape(self._token).encode())
                .replace(b"{{rights}}", html.escape(right).encode())
            )
            headers = {"Content-Type": "text/html; charset=utf-8", **_HEADERS}
            return Response(200, page, headers)
        if path.startswith("/static/"):
            name = path[len("/static/") :]
            kind = _TYPES.get(Path(name).suffix)
            if kind is None or "/" in name or name.startswith("."):
                return None
            try:
                data = self._read(name)
            except OSError:
                return None
            return Response(200, data, {"Content-Type": kind, **_HEADERS})
        return None
