"""Bad input never crashes it: hypothesis throws generated and random input at every parser
of outside text. Each either gives its result or raises its one documented error (a config
error with file and line, a BadRequest, an EnvFileError, a ValueError for a check).

The default run has a fixed, small budget; `pytest -m fuzz` runs the same properties with a
larger one."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from corral.api.dispatch import BadRequest, parse_request
from corral.config import load
from corral.config.checks import parse_check
from corral.config.envfile import EnvFileError, parse_env_text
from corral.config.errors import ConfigError
from corral.config.options import options_for

SMALL = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LARGE = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KINDS = ("supervisord", "program:web", "group:g", "eventlistener:l", "fcgi-program:f", "user:u")
_KEYS = sorted(
    {k for kind in ("supervisord", "program", "group", "eventlistener", "fcgi-program", "user")
     for k in options_for(kind)}
)  # fmt: skip
_VALUES = st.one_of(
    st.sampled_from(["", "0", "1", "-1", "true", "false", "AUTO", "NONE", "%(here)s", "%(x",
                     "a,b", "TERM", "10MB", "/bin/cat", "notify", "tcp:1.2.3.4:99999", "web"]),
    st.text(alphabet=string.printable, max_size=30),
)  # fmt: skip


def _line() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda s: f"[{s}]", st.sampled_from(_KINDS) | st.text(max_size=12)),
        st.builds(lambda k, v: f"{k}={v}", st.sampled_from(_KEYS), _VALUES),
        st.builds(lambda k, v: f"{k} : {v}", st.sampled_from(_KEYS), _VALUES),
        st.text(alphabet=string.printable, max_size=40),
        st.just("  continued value"),
        st.just("; comment"),
    )


_CONFIGS = st.lists(_line(), max_size=25).map("\n".join)


def _config_property(text: str, tmp: Path) -> None:
    path = tmp / "fuzz.conf"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load(str(path), environ={"HOME": "/root", "PATH": "/bin"})
    except ConfigError as e:
        assert e.file is not None, e  # said where, always
        assert str(e)


@SMALL
@given(text=_CONFIGS)
def test_any_config_text_loads_or_is_refused_with_its_file(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _config_property(text, tmp_path_factory.mktemp("cfg"))


@pytest.mark.fuzz
@LARGE
@given(text=_CONFIGS)
def test_any_config_text_loads_or_is_refused_with_its_file_large(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _config_property(text, tmp_path_factory.mktemp("cfg"))


_XML = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda name, body: (
            f"<?xml version='1.0'?><methodCall><methodName>{name}</methodName>"
            f"<params>{body}</params></methodCall>"
        ).encode("utf-8", "surrogateescape"),
        st.text(max_size=20),
        st.text(alphabet="<>/param valueintstringarraydatastructmember 0123", max_size=120),
    ),
)


def _xml_property(body: bytes) -> None:
    try:
        name, params = parse_request(body)
    except BadRequest:
        return
    assert isinstance(name, str) and isinstance(params, list)


@SMALL
@given(body=_XML)
def test_any_bytes_decode_as_a_call_or_a_bad_request(body: bytes) -> None:
    _xml_property(body)


@pytest.mark.fuzz
@LARGE
@given(body=_XML)
def test_any_bytes_decode_as_a_call_or_a_bad_request_large(body: bytes) -> None:
    _xml_property(body)


def _env_property(text: str) -> None:
    try:
        pairs = parse_env_text(text, "/fuzz.env")
    except EnvFileError as e:
        assert "/fuzz.env:" in str(e)  # file:line
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)


_ENV = st.lists(
    st.one_of(
        st.text(alphabet=string.printable, max_size=30),
        st.builds(lambda k, v: f"{k}={v}", st.text(max_size=8), st.text(max_size=12)),
        st.builds(lambda v: f'A="{v}', st.text(max_size=10)),
        st.just("export X=1"),
    ),
    max_size=12,
).map("\n".join)


@SMALL
@given(text=_ENV)
def test_any_env_file_parses_or_names_its_line(text: str) -> None:
    _env_property(text)


@pytest.mark.fuzz
@LARGE
@given(text=_ENV)
def test_any_env_file_parses_or_names_its_line_large(text: str) -> None:
    _env_property(text)


_FORMS = st.sampled_from(["tcp", "http", "exec", "fd", "log", "notify"])
_CHECKS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, rest: f"{k}:{rest}", _FORMS, st.text(max_size=25)),
    st.builds(lambda rest: f"http://{rest}", st.text(max_size=25)),
)


def _check_property(value: str) -> None:
    try:
        check = parse_check(value)
    except ValueError as e:
        assert str(e)
        return
    assert str(check)


@SMALL
@given(value=_CHECKS)
def test_any_check_parses_or_says_why(value: str) -> None:
    _check_property(value)


@pytest.mark.fuzz
@LARGE
@given(value=_CHECKS)
def test_any_check_parses_or_says_why_large(value: str) -> None:
    _check_property(value)
