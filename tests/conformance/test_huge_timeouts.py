"""Durations past what the clocks below hold (threading, gRPC and kazoo deadlines): a wait
that long is a wait for ever, an operation timeout that long a usage error, never an
OverflowError or a deadline that expires at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

import coordkit

CENTURIES = 1e12  # seconds; threading.TIMEOUT_MAX is about 9.2e9


@pytest.mark.parametrize("recipe", ["lock", "semaphore", "campaign"])
def test_a_wait_of_centuries_is_a_wait_for_ever(client: coordkit.Client, recipe: str) -> None:
    attempts: dict[str, Callable[[], bool]] = {
        "lock": lambda: client.lock("jobs/long").acquire(timeout=CENTURIES),
        "semaphore": lambda: client.semaphore("pool/long", 2).acquire(timeout=CENTURIES),
        "campaign": lambda: client.election("lead/long").campaign("me", timeout=CENTURIES),
    }
    assert attempts[recipe]() is True


@pytest.mark.parametrize("option", ["timeout", "connect_timeout"])
def test_an_operation_timeout_of_centuries_is_refused(store_url: str, option: str) -> None:
    with pytest.raises(coordkit.ConfigurationError, match=option):
        coordkit.connect(store_url, **{option: CENTURIES})
    with pytest.raises(coordkit.ConfigurationError, match=option):
        coordkit.connect(f"{store_url}{'&' if '?' in store_url else '?'}{option}={CENTURIES:g}")


def test_a_watch_read_of_centuries_waits_for_the_event(client: coordkit.Client) -> None:
    with client.watch("/long/k") as watch:
        writer = threading.Thread(target=client.put, args=("/long/k", "v"))
        writer.start()  # the event comes while get() waits
        event = watch.get(timeout=CENTURIES)
        writer.join()
    assert event is not None and event.key == "/long/k"
