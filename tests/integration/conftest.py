from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Daemon


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(programs: str, **kw: str) -> Daemon:
        d = Daemon(tmp_path, programs, **kw)
        started.append(d)
        return d.start()

    yield make
    for d in started:
        d.stop()
