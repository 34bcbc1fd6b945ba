from __future__ import annotations

from pathlib import Path

import pytest

from corral.logs.mainlog import MainLog


class LogFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = MainLog(str(path), 0, 0, "debug", echo=False)

    def text(self) -> str:
        return self.path.read_text() if self.path.exists() else ""


@pytest.fixture
def logfile(tmp_path: Path) -> LogFile:
    return LogFile(tmp_path / "main.log")
