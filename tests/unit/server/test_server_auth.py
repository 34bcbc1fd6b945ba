"""Basic auth: plaintext and {SHA} passwords; everything else is refused (never a 500)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from corral.server.auth import BasicAuth, Identity, make_auth


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(token.encode()).decode()


@pytest.mark.parametrize("password", ["s3cret", "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()])
def test_right_credentials_pass_with_plain_or_sha_password(password: str) -> None:
    auth = BasicAuth([Identity("user", password)])
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
    assert not BasicAuth([Identity("user", "s3cret")]).check(header)


def test_sha_password_is_not_accepted_verbatim() -> None:
    digest = "{SHA}" + hashlib.sha1(b"s3cret").hexdigest()
    assert not BasicAuth([Identity("user", digest)]).check(basic(f"user:{digest}"))


def test_no_credentials_configured_means_no_auth() -> None:
    assert make_auth(None, None) is None
    assert isinstance(make_auth("u", "p"), BasicAuth)


def test_scrypt_passwords_and_users_with_rights() -> None:
    from corral.server.auth import hash_password, password_ok

    hashed = hash_password("pw", salt=b"0123456789abcdef")
    assert hashed == hash_password("pw", salt=b"0123456789abcdef")  # the salt decides
    assert password_ok(hashed, "pw") and not password_ok(hashed, "pW")
    assert not password_ok("{SCRYPT}garbage", "pw")
    auth = make_auth("admin", "a", [Identity("viewer", hashed, "read")])
    assert auth is not None
    viewer = auth.caller(basic("viewer:pw"), "10.0.0.1")
    assert viewer is not None and (viewer.user, viewer.rights, viewer.source) == (
        "viewer",
        "read",
        "10.0.0.1",
    )
    admin = auth.caller(basic("admin:a"), "unix")
    assert admin is not None and admin.rights == "admin"
    assert auth.caller(basic("viewer:a"), "unix") is None


def test_rights_table() -> None:
    from corral.api.rights import Caller, denial, needed

    alice = Caller("alice", "control", ("web", "worker:w_1"))
    assert denial(alice, "supervisor.stopProcess", ["web:web_0"]) is None
    assert denial(alice, "supervisor.stopProcessGroup", ["web"]) is None
    assert denial(alice, "supervisor.stopProcess", ["worker:w_1"]) is None
    assert (
        denial(alice, "supervisor.stopProcess", ["worker:w_2"])
        == "alice may not control worker:w_2"
    )
    assert denial(alice, "supervisor.stopProcessGroup", ["worker"]) is not None
    assert denial(alice, "supervisor.stopAllProcesses", []) is not None
    assert denial(alice, "supervisor.shutdown", []) is not None
    assert denial(Caller("c", "control"), "supervisor.stopAllProcesses", []) is None
    assert needed("supervisor.getState") == "read"
    assert needed("corral.update") == needed("supervisor.clearLog") == "admin"
    assert needed("no.such") == "admin"
