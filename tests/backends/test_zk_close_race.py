"""The ZooKeeper backend has no close()/reopen race (issue 9): close() waits, bounded, for a
new_session() in progress, then ends the session it opened. Forced: the new session is held
right after the server opened it until close() has given up waiting for the heartbeat thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import coordkit
from coordkit import SessionState
from coordkit.testing import eventually


def test_close_during_a_reopen_ends_the_new_session(zookeeper_server: Any) -> None:
    client = coordkit.connect(zookeeper_server.url, ttl=10, timeout=2)
    observer = coordkit.connect(zookeeper_server.url, ttl=10, timeout=2)
    backend: Any = client.backend
    real_start = backend._start_session
    probe = f"/close-race-{time.monotonic_ns()}"
    held, release = threading.Event(), threading.Event()

    def slow_start(timeout: float) -> Any:
        kazoo = real_start(timeout)
        kazoo.create(probe, b"", ephemeral=True)  # owned by the new session
        held.set()
        # Held longer than close() waits for the heartbeat thread (timeout + 1 s), so that the
        # backend's close() really runs while new_session() is in progress.
        release.wait(4.0)
        return kazoo

    backend._start_session = slow_start
    try:
        client.expire_session()
        assert held.wait(10), "the session manager never opened a new session"
        closer = threading.Thread(target=client.close)
        closer.start()
        assert client.session.wait_for(SessionState.CLOSED, 10)
        closer.join(15)
        assert not closer.is_alive(), "close() did not return"
        eventually(  # well under the session TTL: only a close ends it so soon
            lambda: observer.get(probe) is None,
            timeout=5,
            message="the session opened during close() to end with it",
        )
    finally:
        release.set()
        observer.close()
