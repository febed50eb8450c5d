"""Waiting with a deadline, for the operations tests."""

from __future__ import annotations

from collections.abc import Callable

from coordkit.testing import eventually as testing_eventually


def eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait until ``condition`` holds (for state no event of ours announces, e.g. another
    object's cache); fail naming ``what`` after ``timeout`` seconds."""
    testing_eventually(condition, timeout=timeout, interval=0.01, message=what)
