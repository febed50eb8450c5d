"""``watch()`` and ``config()`` against a paused server fail within the operation timeout on
both real backends, whatever state the session is in by then (issue 9). memory:// has no
server to pause (its simulated outage fails every call at once), so it is not run here."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import coordkit
from coordkit import SessionState
from coordkit.testing import Outage

TIMEOUT = 2.0
# The timeout plus scheduling slack on a loaded box; the bug took 2-3 timeouts.
BOUND = TIMEOUT * 1.5
STARTS: dict[str, Callable[[coordkit.Client], object]] = {
    "watch-key": lambda c: c.watch("/config/app/db/size", lambda e: None),
    "watch-tree": lambda c: c.watch("/config/app", lambda e: None, recursive=True),
    "config": lambda c: c.config("app"),
}


@pytest.fixture(params=["zookeeper", "etcd"])
def paused(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    with Outage(request.param) as outage:
        yield outage


@pytest.mark.parametrize("phase", [SessionState.CONNECTED, SessionState.SUSPENDED, SessionState.LOST])
@pytest.mark.parametrize("start", sorted(STARTS))
def test_starting_a_watch_on_a_paused_server_fails_within_the_timeout(
    paused: Outage, start: str, phase: SessionState
) -> None:
    client = paused.connect(ttl=3, timeout=TIMEOUT)
    client.put("/config/app/db/size", "1")
    paused.cut()
    try:
        if phase is not SessionState.CONNECTED:
            assert client.session.wait_for(phase, 30), f"the session never became {phase.value}"
        started = time.monotonic()
        with pytest.raises(coordkit.BackendUnavailableError):
            STARTS[start](client)
        elapsed = time.monotonic() - started
    finally:
        paused.heal()
    assert elapsed < BOUND, f"{start} took {elapsed:.2f}s against a paused server (timeout {TIMEOUT}s)"
