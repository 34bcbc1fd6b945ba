"""The INI dialect: comments, continuation lines, case rules, [DEFAULT], line numbers."""

from __future__ import annotations

import pytest

from corral.config.ini import IniDoc, expand, parse_text


def _parse(text: str) -> IniDoc:
    doc = IniDoc()
    parse_text(text, "/x.conf", doc)
    return doc


def test_inline_comments_need_whitespace() -> None:
    doc = _parse('[s]\na=b ;c\nb=b;c\nc=x #y\nd=x#y\ne=sh -c "x ; y"\n')
    opts = {k: v.text for k, v in doc.sections["s"].options.items()}
    assert opts == {"a": "b", "b": "b;c", "c": "x", "d": "x#y", "e": 'sh -c "x'}


def test_names_case_and_line_numbers() -> None:
    doc = _parse("; top\n[Prog:A]\n  Command : run\n\nKEY=v\n")
    section = doc.sections["Prog:A"]
    assert "prog:a" not in doc.sections
    assert (section.file, section.line) == ("/x.conf", 2)
    assert section.options["command"].text == "run"
    assert (section.options["key"].line, section.options["command"].line) == (5, 3)


def test_continuation_lines() -> None:
    doc = _parse("[s]\nfiles =\n  a.conf\n\n  b.conf\n; c\n  c.conf\nnext=1\n")
    assert doc.sections["s"].options["files"].text == "\na.conf\n\nb.conf\nc.conf"
    assert doc.sections["s"].options["next"].text == "1"


def test_default_section_and_merging() -> None:
    doc = _parse("[DEFAULT]\nx=1\n[s]\na=1\n[t]\n[s]\na=2\nb=3\n")
    s = doc.sections["s"]
    assert {k: v.text for k, v in s.options.items()} == {"a": "2", "b": "3"}
    assert s.line == 6
    value = doc.get(doc.sections["t"], "x")
    assert value is not None and value.text == "1"


def test_expand_quirks() -> None:
    assert expand("100%%", {}, "s.o") == "100%"
    assert expand("no percent", {}, "s.o") == "no percent"
    assert expand("%(n)03d", {"n": 7}, "s.o") == "007"
    with pytest.raises(ValueError, match="badly formatted"):
        expand("50%", {}, "s.o")
