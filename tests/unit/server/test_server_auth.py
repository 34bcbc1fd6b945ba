"""Basic auth: plaintext and {SHA} passwords; everything else is refused (never a 500)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from corral.server.auth import BasicAuth, make_auth


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(token.encode()).decode()


@pytest.mark.parametrize("password", ["s3cret", "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()])
def test_right_credentials_pass_with_plain_or_sha_password(password: str) -> None:
    auth = BasicAuth("user", password)
    assert auth.check(basic("user:s3cret"))
    assert auth.check(basic("user:s3cret").replace("Basic", "basic"))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        basic("user:wrong"),
        basic("other:s3cret"),
        basic("user"),  # no ':' -- 4.3 answers 500 here
        "Basic !!!not-base64!!!",
        "Basic",
        "Bearer abc",
        "Digest " + base64.b64encode(b"user:s3cret").decode(),
        "Basic " + base64.b64encode(b"user:\xff").decode(),
    ],
)
def test_anything_else_is_refused(header: str | None) -> None:
    assert not BasicAuth("user", "s3cret").check(header)


def test_sha_password_is_not_accepted_verbatim() -> None:
    digest = "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()
    assert not BasicAuth("user", digest).check(basic(f"user:{digest}"))


def test_no_credentials_configured_means_no_auth() -> None:
    assert make_auth(None, None) is None
    assert isinstance(make_auth("u", "p"), BasicAuth)
