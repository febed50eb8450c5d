"""A recipe's wait bounded by ``timeout`` ends on time while the store is unreachable: each
store call gets what remains of the wait, not a whole operation timeout (issue 9)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import coordkit

from .conftest import Outage

OPERATION_TIMEOUT = 5.0
WAIT = 1.0
# Far under WAIT + OPERATION_TIMEOUT (the overrun this guards against), with room for a loaded box.
BOUND = 2.0

Attempt = Callable[[coordkit.Client], bool]
ATTEMPTS: dict[str, Attempt] = {
    "lock": lambda c: c.lock("jobs/nightly").acquire(timeout=WAIT),
    "semaphore": lambda c: c.semaphore("pool", 2).acquire(timeout=WAIT),
    "rwlock-read": lambda c: c.rwlock("table").read.acquire(timeout=WAIT),
    "rwlock-write": lambda c: c.rwlock("table").write.acquire(timeout=WAIT),
    "campaign": lambda c: c.election("leader").campaign("me", timeout=WAIT),
}


@pytest.mark.parametrize("recipe", sorted(ATTEMPTS))
def test_a_bounded_wait_gives_up_on_time_while_the_store_is_unreachable(outage: Outage, recipe: str) -> None:
    """On memory:// the outage is simulated (calls fail at once), so it shows the same result."""
    client = outage.connect(ttl=10, timeout=OPERATION_TIMEOUT)
    outage.cut()
    try:
        started = time.monotonic()
        assert ATTEMPTS[recipe](client) is False
        elapsed = time.monotonic() - started
    finally:
        outage.heal()
    assert elapsed < BOUND, f"{recipe} with timeout={WAIT} took {elapsed:.2f}s with the store unreachable"
