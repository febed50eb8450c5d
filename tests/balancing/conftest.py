"""Fixtures for the balancing tests."""

from __future__ import annotations

import pytest
from balancing_helpers import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
