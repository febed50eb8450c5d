"""A connect attempt against a ZooKeeper server that accepts the connection but never answers
(a paused member, a server still starting) gives up after a bounded handshake wait and tries
again, instead of stalling for kazoo's session timeout / number of hosts: with a TTL of 20 s and
one host, kazoo alone waits 20 s, the whole TTL, before its next attempt. Real paused server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from coordkit.backends.zookeeper.session import new_client, stop_bounded
from coordkit.testing import ZooKeeperServer

TTL = 20.0
ATTEMPTS = 3


class Attempts(logging.Handler):
    """Counts kazoo's "Connecting to" lines: one per connection attempt."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Connecting to"):
            with self.changed:
                self.count += 1
                self.changed.notify_all()


@pytest.fixture
def attempts() -> Iterator[Attempts]:
    handler = Attempts()
    kazoo = logging.getLogger("kazoo.client")
    old = kazoo.level
    kazoo.addHandler(handler)
    kazoo.setLevel(logging.DEBUG)
    yield handler
    kazoo.removeHandler(handler)
    kazoo.setLevel(old)


def test_a_server_that_never_answers_is_tried_again_within_a_bounded_wait(attempts: Attempts) -> None:
    with ZooKeeperServer(tick_time_ms=1500) as server:  # grants TTLs up to 30 s
        server.pause()
        client, _ = new_client(server.endpoints[0], TTL)
        try:
            started = client.start_async()
            bound = TTL / 2  # a generous bound on the failure's latency, under half the TTL
            deadline = time.monotonic() + bound
            with attempts.changed:
                while attempts.count < ATTEMPTS and time.monotonic() < deadline:
                    attempts.changed.wait(deadline - time.monotonic())
            assert attempts.count >= ATTEMPTS, (
                f"{attempts.count} connection attempt(s) in {bound:g}s against a server that never "
                f"answers: each handshake waited too long"
            )
            server.resume()
            assert started.wait(TTL), "no session once the server answers again"
        finally:
            server.resume()
            stop_bounded(client, 5.0)
