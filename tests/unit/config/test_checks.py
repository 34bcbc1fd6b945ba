"""The check forms of ready_check and health_check (issue 9)."""

from __future__ import annotations

import pytest

from corral.config.checks import parse_check


def test_every_form_is_parsed() -> None:
    assert parse_check(" notify ").kind == "notify"
    fd = parse_check("fd:3")
    assert (fd.kind, fd.fd, str(fd)) == ("fd", 3, "fd:3")
    log = parse_check(r"log:listening on \d+")
    assert log.kind == "log" and log.pattern is not None
    assert log.pattern.search("listening on 8080")
    tcp = parse_check("tcp:127.0.0.1:5432")
    assert (tcp.kind, tcp.host, tcp.port) == ("tcp", "127.0.0.1", 5432)
    v6 = parse_check("tcp:[::1]:80")
    assert (v6.host, v6.port) == ("::1", 80)
    http = parse_check("http://127.0.0.1:8080/health?deep=1")
    assert (http.kind, http.host, http.port) == ("http", "127.0.0.1", 8080)
    assert http.url == "http://127.0.0.1:8080/health?deep=1"
    assert parse_check("http://localhost/").port == 80
    https = parse_check("https://127.0.0.1:8443/health")
    assert (https.kind, https.host, https.port) == ("https", "127.0.0.1", 8443)
    assert parse_check("HTTPS://localhost/").port == 443
    assert parse_check("https://localhost/", probes_only=True).kind == "https"
    ex = parse_check("exec: pg_isready -q ")
    assert (ex.kind, ex.command) == ("exec", "pg_isready -q")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("fd:1", "fd:N needs N >= 3"),
        ("fd:x", "fd check must be fd:N"),
        ("log:", "needs a regular expression"),
        ("log:(unclosed", "bad regular expression '(unclosed'"),
        ("tcp:5432", "tcp check must be tcp:HOST:PORT"),
        ("tcp:host:99999", "port out of range"),
        ("tcp:host:abc", "bad port"),
        ("https:///x", "https check needs a host"),
        ("https://x:0x/", "bad port"),
        ("http:///path", "http check needs a host"),
        ("exec:  ", "exec check needs a command"),
        ("ready", "unknown check 'ready'"),
    ],
)
def test_bad_forms_are_refused_with_a_clear_message(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=None) as refused:
        parse_check(value)
    assert message in str(refused.value)


@pytest.mark.parametrize("value", ["notify", "fd:3", "log:up"])
def test_health_checks_are_probes_only(value: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_check(value, probes_only=True)
    assert str(refused.value).startswith("health_check must be tcp:HOST:PORT")
    assert parse_check("tcp:h:1", probes_only=True).kind == "tcp"
