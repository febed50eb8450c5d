"""The contention benchmark's choreography (bench/_locks_contend.py) holds on a slow machine.

The run's first holder waits until every contender is queued, so that the handoffs timed are
contended ones. A semaphore has a second holder meanwhile; CI once saw the first holder look
late, after the others had finished their rounds and left, and wait 30 s for a full queue
that could no longer come. Here the first holder is made to look late on purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytestmark = pytest.mark.memory


@pytest.fixture
def contention(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import _locks_contend

    return _locks_contend


def test_a_first_holder_that_looks_late_still_sees_every_contender_queued(
    contention: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked: list[float] = []
    await_queue = contention._await

    def late(condition: Callable[[], bool], timeout: float = 30.0) -> None:
        time.sleep(0.5)  # longer than the other holders need to finish all their rounds
        started = time.perf_counter()
        await_queue(condition, timeout=5.0)
        looked.append(time.perf_counter() - started)

    monkeypatch.setattr(contention, "_await", late)
    contenders, rounds = 6, 2
    found: dict[str, Any] = contention.contend(
        "memory://choreography", kind="semaphore", contenders=contenders, rounds=rounds, hold=0.010
    )
    assert len(looked) == 1
    assert looked[0] < 1.0  # the queue was full when it looked: nobody had left
    assert found["releases"] == contenders * rounds - 1
