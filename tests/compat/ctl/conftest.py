"""Fixtures: a real Supervisor 4.3 supervisord per test module, in a tmp dir."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The tests import their helpers as `ctlpeer`, next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ctlpeer import APP_CODE, MAIN_PROGRAMS, Daemon, start_daemon


@pytest.fixture(scope="module")
def sd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The shared daemon of a test module (tests restore any state they change)."""
    base = tmp_path_factory.mktemp("sd")
    daemon = start_daemon(
        base, MAIN_PROGRAMS.format(python=sys.executable, base=base, app=APP_CODE)
    )
    try:
        yield daemon
    finally:
        daemon.stop()
