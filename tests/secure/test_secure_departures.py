"""etcd departure waits share one stream per client: a token gone stale under that stream
(or with a restart) does not strand a waiter; it re-reads and waits on a new stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.testing import eventually
from coordkit.testing._secure import SecureEtcdServer, User


@pytest.fixture
def short_tokens() -> Iterator[SecureEtcdServer]:
    """A secure etcd whose simple tokens live 2 s (--auth-token-ttl 2)."""
    with SecureEtcdServer(users=[User("alice")], auth_token_ttl=2) as server:
        yield server


def _handover(holder: coordkit.Lock, waiter: coordkit.Lock, waiting: threading.Event) -> None:
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(waiter.acquire(timeout=30)), daemon=True)
    waiting.clear()
    thread.start()
    assert waiting.wait(15), "the waiter did not start waiting"
    holder.release()
    thread.join(30)
    assert got == [True], "the waiter was not handed the lock"


def test_a_token_gone_stale_under_the_departure_stream_does_not_strand_a_waiter(
    short_tokens: SecureEtcdServer,
) -> None:
    creds = short_tokens.credentials("alice")
    with (
        coordkit.connect(short_tokens.url, ttl=10, **creds) as first,
        coordkit.connect(short_tokens.url, ttl=10, **creds) as second,
    ):
        waiting = threading.Event()
        wait_gone = second.backend.wait_gone

        def noted(*args, **kwargs):  # type: ignore[no-untyped-def]
            waiting.set()
            return wait_gone(*args, **kwargs)

        second.backend.wait_gone = noted  # type: ignore[method-assign]
        mine, theirs = first.lock("jobs/nightly"), second.lock("jobs/nightly")
        assert mine.acquire(timeout=5)
        _handover(mine, theirs, waiting)  # opens second's departure stream
        assert mine.acquire(timeout=0) is False
        theirs.release()
        assert mine.acquire(timeout=5)
        opened = second.backend._departures.streams_opened
        assert opened == 1
        mark = len(short_tokens.log_path.read_text())
        eventually(
            lambda: "deleted a simple token" in short_tokens.log_path.read_text()[mark:],
            timeout=20,
            interval=0.1,
            message="etcd to drop the idle tokens",
        )
        _handover(mine, theirs, waiting)  # its join renews the token, not the stream's
        # The stream's token was stale: etcd refused the watch, so a new stream was opened.
        assert second.backend._departures.streams_opened == opened + 1
        theirs.release()
        assert mine.acquire(timeout=5)
        short_tokens.restart()  # every token is gone with the old process
        _handover(mine, theirs, waiting)
        assert second.backend._departures.streams_opened == opened + 2
        theirs.release()
