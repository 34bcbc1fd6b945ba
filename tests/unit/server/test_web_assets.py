"""The dashboard's files: shipped in the package, small, and self-contained (no CDN)."""

from __future__ import annotations

import re

from corral.server.web import WEB

ASSETS = sorted(p for p in WEB.iterdir() if p.suffix in (".html", ".js", ".css"))


def test_the_assets_are_small_and_present() -> None:
    assert {p.name for p in ASSETS} == {"index.html", "app.js", "app.css"}
    assert sum(p.stat().st_size for p in ASSETS) < 200 * 1024


def test_nothing_is_loaded_from_elsewhere() -> None:
    for path in ASSETS:
        text = path.read_text()
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), path.name


def test_the_page_has_no_inline_script() -> None:
    # the Content-Security-Policy forbids it; keep the page compatible with it
    page = (WEB / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert re.findall(r"\son[a-z]+=", page) == []  # no inline event handlers either
