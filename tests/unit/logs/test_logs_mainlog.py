"""MainLog: exact line format, level filtering, echo, rotation, clear."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corral.logs.mainlog import LEVELS, MainLog, format_line

LINE = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} (CRIT|ERRO|WARN|INFO|DEBG|TRAC|BLAT) (.*)$"
)


def test_line_format_and_codes(tmp_path: Path) -> None:
    path = tmp_path / "main.log"
    log = MainLog(str(path), 0, 0, "blather", echo=False)
    for name in ("critical", "error", "warn", "info", "debug", "trace", "blather"):
        getattr(log, name)(f"a {name} message")
    log.close()
    lines = path.read_text().splitlines()
    codes = [LINE.match(line).group(1) for line in lines]  # type: ignore[union-attr]
    assert codes == ["CRIT", "ERRO", "WARN", "INFO", "DEBG", "TRAC", "BLAT"]
    assert LINE.match(lines[3]).group(2) == "a info message"  # type: ignore[union-attr]


def test_format_line_timestamp_millis() -> None:
    line = format_line(20, "hi", now=1_700_000_000.0421)
    assert re.fullmatch(r"2023-11-1[45] \d\d:\d\d:20,042 INFO hi\n", line)


def test_numeric_levels() -> None:
    assert LEVELS == {
        "critical": 50,
        "error": 40,
        "warn": 30,
        "info": 20,
        "debug": 10,
        "trace": 5,
        "blather": 3,
    }


def test_level_filtering_and_is_enabled(tmp_path: Path) -> None:
    path = tmp_path / "main.log"
    log = MainLog(str(path), 0, 0, "warn", echo=False)
    assert log.is_enabled("error") and log.is_enabled("warn")
    assert not log.is_enabled("info") and not log.is_enabled("debug")
    log.info("hidden")
    log.debug("hidden")
    log.warn("shown")
    log.log("critical", "also shown")
    log.close()
    text = path.read_text()
    assert "hidden" not in text
    assert [LINE.match(x).group(2) for x in text.splitlines()] == [  # type: ignore[union-attr]
        "shown",
        "also shown",
    ]


def test_nowhere_to_log_is_cheap() -> None:
    log = MainLog(None, 0, 0, "blather", echo=False)
    assert not log.is_enabled("critical")
    log.critical("goes nowhere")
    assert log.path is None


def test_echo_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = MainLog(None, 0, 0, "info", echo=True)
    log.info("supervisord started with pid 42")
    log.debug("not shown")
    out = capsys.readouterr().out
    assert LINE.match(out.rstrip("\n")) is not None
    assert out.endswith(" INFO supervisord started with pid 42\n")
    assert "not shown" not in out


def test_multiline_message_is_one_write(tmp_path: Path) -> None:
    path = tmp_path / "main.log"
    log = MainLog(str(path), 0, 0, "debug", echo=False)
    log.debug("'prog' stdout output:\nline one\nline two\n")
    log.close()
    assert path.read_text().endswith("DEBG 'prog' stdout output:\nline one\nline two\n\n")


def test_rotation_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "main.log"
    log = MainLog(str(path), 200, 2, "info", echo=False)
    for i in range(20):
        log.info(f"message number {i}")
    assert Path(f"{path}.1").exists() and Path(f"{path}.2").exists()
    assert not Path(f"{path}.3").exists()
    log.clear()
    assert path.read_bytes() == b""
    log.info("after clear")
    log.close()
    assert path.read_text().endswith("INFO after clear\n")
    assert Path(f"{path}.1").exists()


def test_reopen_after_rename(tmp_path: Path) -> None:
    path = tmp_path / "main.log"
    log = MainLog(str(path), 0, 0, "info", echo=False)
    log.info("one")
    path.rename(tmp_path / "main.log.old")
    log.reopen()
    log.info("two")
    log.close()
    assert "two" in path.read_text() and "one" not in path.read_text()


def test_unknown_level_rejected() -> None:
    with pytest.raises(ValueError):
        MainLog(None, 0, 0, "loud", echo=False)


def test_syslog_target_creates_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    log = MainLog("syslog", 0, 0, "info", echo=False)
    assert log.is_enabled("info")
    log.info("corral test line to syslog")
    log.close()
    assert list(tmp_path.iterdir()) == []
