"""Suite-wide hygiene: no test leaves a daemon or a child of one running after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import STARTED


@pytest.fixture(autouse=True)
def _end_what_the_test_started() -> Iterator[None]:
    # A test that fails half-way, or kills its daemon on purpose, would otherwise leave
    # programs running for the rest of the suite (and load the machine the timings run on).
    yield
    while STARTED:
        STARTED.pop().cleanup()
