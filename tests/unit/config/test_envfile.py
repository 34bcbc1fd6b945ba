"""Environment files: the option's list of paths, the file format, reading at spawn time."""

from __future__ import annotations

import operator
import os
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corral.config.envfile import (
    EnvFile,
    EnvFileError,
    parse_env_files,
    parse_env_text,
    read_env_files,
)

Load = Callable[[str | bytes], list[tuple[str, str]]]


@pytest.fixture
def env_path(tmp_path: Path) -> str:
    return str(tmp_path / "app.env")


@pytest.fixture
def load(env_path: str) -> Load:
    """Write the contents to a real file, byte for byte, and read it back as corral will."""

    def _load(contents: str | bytes) -> list[tuple[str, str]]:
        data = contents.encode() if isinstance(contents, str) else contents
        Path(env_path).write_bytes(data)
        return read_env_files([EnvFile(env_path, optional=False)])

    return _load


def _error(load: Load, contents: str | bytes) -> EnvFileError:
    with pytest.raises(EnvFileError) as info:
        load(contents)
    return info.value


# --- the option's value -------------------------------------------------------------------


def test_paths_split_stripped_and_marked_optional() -> None:
    assert parse_env_files(" /etc/app.env ,-/run/secrets.env,, relative.env , - spaced.env,") == (
        EnvFile("/etc/app.env", optional=False),
        EnvFile("/run/secrets.env", optional=True),
        EnvFile("relative.env", optional=False),
        EnvFile("spaced.env", optional=True),
    )
    assert parse_env_files("") == ()
    assert parse_env_files(" , ") == ()
    assert parse_env_files("--x.env") == (EnvFile("-x.env", optional=True),)


@pytest.mark.parametrize("text", ["-", "a.env, - ,b.env"])
def test_empty_path_after_dash_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="empty path after '-'"):
        parse_env_files(text)


# --- lines, comments, keys ----------------------------------------------------------------


def test_pairs_in_file_order_with_duplicates_kept(load: Load) -> None:
    assert load("B=1\nA=2\nB=3\n") == [("B", "1"), ("A", "2"), ("B", "3")]
    assert load("LAST=no newline at end") == [("LAST", "no newline at end")]
    assert load("") == []


def test_blank_and_comment_lines_skipped(load: Load) -> None:
    text = "\n# a comment\n   \n\t# indented comment\nA=1\n  \t\n#B=2\n"
    assert load(text) == [("A", "1")]


def test_crlf_line_endings(load: Load) -> None:
    assert load(b"A=1\r\nB='x'\r\n# c\r\n\r\nC=\"two\r\nlines\"\r\n") == [
        ("A", "1"),
        ("B", "x"),
        ("C", "two\nlines"),
    ]


def test_export_prefix(load: Load) -> None:
    text = "export A=1\nexport \t B=2\n  export\tC=3\nexport=4\nexport =5\nexported=6\n"
    assert load(text) == [
        ("A", "1"),
        ("B", "2"),
        ("C", "3"),
        ("export", "4"),
        ("export", "5"),
        ("exported", "6"),
    ]


def test_keys_stripped_and_may_hold_dots(load: Load) -> None:
    assert load("  A  = 1\n_x=2\na.b.C_9=3\n\tT\t=4\n") == [
        ("A", "1"),
        ("_x", "2"),
        ("a.b.C_9", "3"),
        ("T", "4"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "garbage line",
        "=value",
        "  = value",
        "1ABC=x",
        "MY-VAR=x",
        "A B=x",
        "export A B=x",
        "export A",
        "ÄPFEL=x",
    ],
)
def test_line_that_is_not_key_value(load: Load, env_path: str, bad: str) -> None:
    err = _error(load, f"# first\nOK=1\n{bad}\nLATER=2\n")
    assert str(err).startswith(f"{env_path}:3: not KEY=VALUE")
    assert str(err).endswith(f": {bad!r}")
    assert (err.path, err.line) == (env_path, 3)


def test_bad_line_message_in_full() -> None:
    with pytest.raises(EnvFileError) as info:
        parse_env_text("A=1\n\ngarbage line\n", "/srv/app/.env")
    assert str(info.value) == "/srv/app/.env:3: not KEY=VALUE: 'garbage line'"
    assert (info.value.path, info.value.line) == ("/srv/app/.env", 3)


def test_long_bad_line_is_quoted_truncated(load: Load, env_path: str) -> None:
    line = "x" * 200
    err = _error(load, line + "\n")
    assert str(err) == f"{env_path}:1: not KEY=VALUE: {'x' * 80!r}..."


# --- unquoted values ----------------------------------------------------------------------


def test_unquoted_value_stripped_and_literal(load: Load) -> None:
    text = (
        "A=  spaced out \t\n"
        "HOME_REF=$HOME/bin:${PATH}\n"
        "BACK=C:\\dir\\n\\t\n"
        "EQ=a=b=c\n"
        'QUOTES=say "hi" it\'s\n'
        "URL=http://h/#frag\n"
    )
    assert load(text) == [
        ("A", "spaced out"),
        ("HOME_REF", "$HOME/bin:${PATH}"),
        ("BACK", "C:\\dir\\n\\t"),
        ("EQ", "a=b=c"),
        ("QUOTES", 'say "hi" it\'s'),
        ("URL", "http://h/#frag"),
    ]


def test_inline_comment_needs_whitespace_before_hash(load: Load) -> None:
    text = "A=value # a comment\nB=value\t#tab comment\nC=no#comment\nD= # only a comment\nE=#x\n"
    assert load(text) == [
        ("A", "value"),
        ("B", "value"),
        ("C", "no#comment"),
        ("D", ""),
        ("E", "#x"),
    ]


def test_empty_value(load: Load) -> None:
    assert load("A=\nB=   \nC=''\nD=\"\"\n") == [("A", ""), ("B", ""), ("C", ""), ("D", "")]


# --- single quotes ------------------------------------------------------------------------


def test_single_quoted_value_is_literal(load: Load) -> None:
    text = "A='  keep  spaces '\nB='$HOME \\n \\\\ \" # not a comment'\nC= 'after space'\n"
    assert load(text) == [
        ("A", "  keep  spaces "),
        ("B", '$HOME \\n \\\\ " # not a comment'),
        ("C", "after space"),
    ]


def test_single_quoted_value_spans_lines(load: Load) -> None:
    text = "KEY='-----BEGIN-----\nabc\n\n# not a comment\n-----END-----'\nNEXT=1\n"
    assert load(text) == [
        ("KEY", "-----BEGIN-----\nabc\n\n# not a comment\n-----END-----"),
        ("NEXT", "1"),
    ]


# --- double quotes ------------------------------------------------------------------------


def test_double_quoted_escapes(load: Load) -> None:
    text = 'A="line1\\nline2\\tTab \\"q\\" back\\\\slash \\$HOME $HOME"\n'
    assert load(text) == [("A", 'line1\nline2\tTab "q" back\\slash $HOME $HOME')]


def test_double_quoted_unknown_escapes_kept(load: Load) -> None:
    assert load('A="\\q \\x41 \\\' \\r"\n') == [("A", "\\q \\x41 \\' \\r")]
    # An escaped backslash does not escape what follows it.
    assert load('B="end\\\\"\n') == [("B", "end\\")]


def test_double_quoted_value_spans_lines(load: Load) -> None:
    text = 'A="first\n  second # kept\n\\"third\\""\nB=2\n'
    assert load(text) == [("A", 'first\n  second # kept\n"third"'), ("B", "2")]


def test_double_quoted_keeps_spaces_and_hash(load: Load) -> None:
    assert load('A="  x # y  "\n') == [("A", "  x # y  ")]


# --- after the closing quote --------------------------------------------------------------


def test_whitespace_or_comment_after_closing_quote(load: Load) -> None:
    text = "A='x'   \nB=\"y\"\t# note\nC='z' #\nD=\"w\"#tight\n"
    assert load(text) == [("A", "x"), ("B", "y"), ("C", "z"), ("D", "w")]


@pytest.mark.parametrize("bad", ["A='x'y", 'A="x" y', "A='x''y'", "A=\"x\"'y'"])
def test_text_after_closing_quote_is_an_error(load: Load, env_path: str, bad: str) -> None:
    err = _error(load, f"OK=1\n{bad}\n")
    assert str(err) == f"{env_path}:2: unexpected text after closing quote: {bad!r}"
    assert err.line == 2


def test_text_after_multiline_closing_quote_names_that_line(load: Load, env_path: str) -> None:
    err = _error(load, 'A="one\ntwo\nthree" junk\n')
    assert str(err) == f"{env_path}:3: unexpected text after closing quote: 'three\" junk'"


# --- unterminated quotes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [("B='never closed", "single"), ('B="never closed', "double"), ('B="ends \\"', "double")],
)
def test_unterminated_quote_names_the_start_line(
    load: Load, env_path: str, line: str, kind: str
) -> None:
    err = _error(load, f"A=1\n{line}\nC=2\nD=3\n")
    assert str(err) == f"{env_path}:2: unterminated {kind}-quoted value: {line!r}"
    assert err.line == 2


def test_line_numbers_count_lines_inside_quoted_values(load: Load, env_path: str) -> None:
    err = _error(load, "A='1\n2\n3'\nB=\"4\n5\"\nbad\n")
    assert str(err).startswith(f"{env_path}:6: not KEY=VALUE")


# --- bytes --------------------------------------------------------------------------------


def test_non_utf8_bytes_survive_surrogateescape(load: Load) -> None:
    pairs = load(b"RAW=\xff\xfeok\nUTF=caf\xc3\xa9\n")
    assert pairs == [("RAW", "\udcff\udcfeok"), ("UTF", "café")]
    assert os.fsencode(pairs[0][1]) == b"\xff\xfeok"


@pytest.mark.parametrize(
    ("contents", "line"),
    [
        (b"OK=1\nA=x\x00y\n", 2),
        (b"OK=1\nA='x\x00y'\n", 2),
        (b'OK=1\nA="one\ntw\x00o"\n', 3),
    ],
)
def test_nul_byte_in_value_is_an_error(
    load: Load, env_path: str, contents: bytes, line: int
) -> None:
    err = _error(load, contents)
    assert str(err).startswith(f"{env_path}:{line}: NUL byte in value: ")
    assert err.line == line


def test_nul_byte_in_a_comment_is_harmless(load: Load) -> None:
    assert load(b"# \x00\nA=1 # \x00\n") == [("A", "1")]


# --- reading files ------------------------------------------------------------------------


def test_files_read_in_order_later_wins(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("A=from-a\nB=from-a\n")
    (tmp_path / "b.env").write_text("B=from-b\nC=from-b\n")
    files = parse_env_files(f"{tmp_path}/a.env, {tmp_path}/b.env")
    pairs = read_env_files(files)
    assert pairs == [("A", "from-a"), ("B", "from-a"), ("B", "from-b"), ("C", "from-b")]
    assert dict(pairs) == {"A": "from-a", "B": "from-b", "C": "from-b"}


def test_file_is_read_again_each_time(tmp_path: Path) -> None:
    path = tmp_path / "secret.env"
    files = [EnvFile(str(path), optional=False)]
    path.write_text("TOKEN=old\n")
    assert read_env_files(files) == [("TOKEN", "old")]
    path.write_text("TOKEN=rotated\n")
    assert read_env_files(files) == [("TOKEN", "rotated")]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.env")
    with pytest.raises(EnvFileError) as info:
        read_env_files([EnvFile(missing, optional=False)])
    assert str(info.value) == f"environment file {missing} not found"
    assert (info.value.path, info.value.line) == (missing, None)


def test_missing_optional_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "here.env").write_text("A=1\n")
    files = parse_env_files(f"-{tmp_path}/gone.env, {tmp_path}/here.env, -{tmp_path}/x/y.env")
    assert read_env_files(files) == [("A", "1")]


def test_directory_is_unreadable_even_when_optional(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError) as info:
        read_env_files([EnvFile(str(tmp_path), optional=True)])
    assert str(info.value) == f"environment file {tmp_path}: Is a directory"
    assert (info.value.path, info.value.line) == (str(tmp_path), None)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_permission_denied_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "locked.env"
    path.write_text("A=1\n")
    path.chmod(0)
    with pytest.raises(EnvFileError) as info:
        read_env_files([EnvFile(str(path), optional=True)])
    assert str(info.value) == f"environment file {path}: Permission denied"


def test_bad_line_names_the_file_it_is_in(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.env", tmp_path / "bad.env"
    good.write_text("A=1\n")
    bad.write_text("B=2\n\nnot a pair\n")
    with pytest.raises(EnvFileError) as info:
        read_env_files([EnvFile(str(good), False), EnvFile(str(bad), False)])
    assert str(info.value) == f"{bad}:3: not KEY=VALUE: 'not a pair'"
    assert (info.value.path, info.value.line) == (str(bad), 3)


# --- round trip ---------------------------------------------------------------------------

# Built from parts rather than st.from_regex: the same keys, drawn three times as fast.
_KEYS = st.builds(
    operator.add,
    st.sampled_from(string.ascii_letters + "_"),
    st.text(string.ascii_letters + string.digits + "_.", max_size=12),
)
# Printable text (tabs and newlines included), no NUL, no lone surrogates.
_VALUES = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), include_characters="\t\n"), max_size=40
)


def _double_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped.replace("\n", "\\n") + '"'


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_double_quoted_round_trip(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]
) -> None:
    text = "".join(f"{key}={_double_quote(value)}\n" for key, value in env.items())
    assert parse_env_text(text, "/x.env") == list(env.items())
    path = tmp_path_factory.getbasetemp() / "roundtrip.env"  # one file, rewritten each time
    path.write_bytes(text.encode())
    assert read_env_files([EnvFile(str(path), optional=False)]) == list(env.items())
