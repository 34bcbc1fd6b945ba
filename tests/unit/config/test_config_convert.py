"""Converters, property-tested: byte sizes, octal, booleans, signals, exit codes, pairs."""

from __future__ import annotations

import signal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.config import convert

_SUFFIX = {"": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}


@given(st.integers(0, 10**6), st.sampled_from(sorted(_SUFFIX)), st.booleans())
def test_byte_size(number: int, suffix: str, upper: bool) -> None:
    text = f" {number}{suffix.upper() if upper else suffix} "
    assert convert.byte_size(text) == number * _SUFFIX[suffix]


@given(st.text(alphabet="0123456789kmgtbxKMGTBX.", min_size=1, max_size=6))
def test_byte_size_rejects_or_matches(text: str) -> None:
    try:
        value = convert.byte_size(text)
    except ValueError as exc:
        assert "invalid literal for int() with base 10" in str(exc)
    else:
        assert value >= 0


@given(st.integers(0, 0o7777))
def test_octal_round_trip(mode: int) -> None:
    assert convert.octal(oct(mode)) == mode
    assert convert.octal(format(mode, "o")) == mode
    assert convert.octal("0" + format(mode, "o")) == mode


@given(st.text(alphabet="01234567", max_size=3), st.sampled_from("89xyz"), st.text(max_size=2))
def test_octal_rejects(head: str, bad: str, tail: str) -> None:
    text = head + bad + tail
    with pytest.raises(ValueError, match="can not be converted to an octal type"):
        convert.octal(text)


@given(st.sampled_from(["yes", "true", "on", "1", "no", "false", "off", "0"]), st.booleans())
def test_boolean(word: str, upper: bool) -> None:
    expected = word in ("yes", "true", "on", "1")
    assert convert.boolean(word.upper() if upper else word) is expected


@given(
    st.text(max_size=6).filter(
        lambda t: t.strip().lower() not in ("yes", "true", "on", "1", "no", "false", "off", "0")
    )
)
def test_boolean_rejects(text: str) -> None:
    with pytest.raises(ValueError) as info:
        convert.boolean(text)
    assert str(info.value) == f"not a valid boolean value: {text!r}"


# every name, aliases (SIGIOT, SIGCLD, SIGPOLL) included
@given(st.sampled_from(sorted(signal.Signals.__members__)), st.booleans(), st.booleans())
def test_signal_names(name: str, strip_sig: bool, lower: bool) -> None:
    text = name[3:] if strip_sig else name
    assert convert.parse_signal(text.lower() if lower else text) == signal.Signals[name]


@given(st.sampled_from(sorted(int(s) for s in signal.Signals)), st.booleans())
def test_signal_numbers(number: int, as_text: bool) -> None:
    assert convert.parse_signal(str(number) if as_text else number) == number


def test_signal_aliases_as_4_3() -> None:
    # 4.3 reads stopsignal=IOT; corral refused it before parse_signal took aliases
    assert [convert.parse_signal(n) for n in ("IOT", "cld", " SIGPOLL ")] == [
        signal.SIGABRT,
        signal.SIGCHLD,
        signal.SIGIO,
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("BOGUS", "value 'BOGUS' is not a valid signal name"),
        ("SIG_IGN", "value 'SIG_IGN' is not a valid signal name"),
        ("RTMIN+1", "value 'RTMIN+1' is not a valid signal name"),
        ("0", "value '0' is not a valid signal number"),
        ("40", "value '40' is not a valid signal number"),  # unnamed real-time, as 4.3
        (99999, "value 99999 is not a valid signal number"),
        (-1, "value -1 is not a valid signal number"),
    ],
)
def test_parse_signal_rejects(value: str | int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        convert.parse_signal(value)
    assert str(info.value) == message


def test_signal_name() -> None:
    assert convert.signal_name(15) == "SIGTERM"
    assert convert.signal_name(6) == "SIGABRT"  # the canonical name, not the IOT alias
    assert convert.signal_name(40) == "signal 40"


def test_log_level_names_are_the_one_list() -> None:
    from corral.config.loglevels import LEVEL_CODES, LEVELS, LEVELS_TEXT, level_number
    from corral.config.options import options_for

    assert tuple(LEVELS) == ("critical", "error", "warn", "info", "debug", "trace", "blather")
    assert set(LEVEL_CODES) == set(LEVELS.values())
    assert LEVELS_TEXT == "critical, error, warn, info, debug, trace or blather"
    assert options_for("supervisord")["loglevel"].doc == LEVELS_TEXT + "."
    for name, number in LEVELS.items():
        assert convert.log_level(name.upper()) == name
        assert level_number(name.upper()) == number
    assert level_number("warning") == 30  # callers' alias; config text refuses it, as 4.3
    with pytest.raises(ValueError, match="bad logging level name 'warning'"):
        convert.log_level("warning")
    with pytest.raises(ValueError, match="unknown log level 'crit'"):
        level_number("crit")


@given(st.lists(st.integers(0, 255), max_size=5))
def test_exit_codes(codes: list[int]) -> None:
    assert convert.exit_codes(",".join(map(str, codes))) == tuple(codes)


def test_key_value_pairs() -> None:
    assert convert.key_value_pairs("A=1,B=\"x, y\",C='q',D=/p:/q") == (
        ("A", "1"),
        ("B", "x, y"),
        ("C", "q"),
        ("D", "/p:/q"),
    )
    assert convert.key_value_pairs("A=a b") == (("A", "a"),)
    with pytest.raises(ValueError, match="Unexpected end of key/value pairs in value 'A=foo@bar'"):
        convert.key_value_pairs("A=foo@bar")


def test_inet_address() -> None:
    assert convert.inet_address("9001") == ("", 9001)
    assert convert.inet_address("*:9001") == ("", 9001)
    assert convert.inet_address("LocalHost:80") == ("localhost", 80)
    with pytest.raises(ValueError, match=r"0 is below lower bound \(1\)"):
        convert.inet_address("h:0")
