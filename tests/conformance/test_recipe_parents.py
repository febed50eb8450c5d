"""The parents that recipes and registrations create are no keys, on every backend: after a
lock, semaphore, election, registration or configuration write, `get`, `tree` and watches of
the paths above their keys show nothing (on ZooKeeper those nodes are implicit parents, as
the parents of a plain write are)."""

from __future__ import annotations

import pytest

import coordkit
from coordkit import WatchEvent

DEADLINE = 10.0
SENTINEL = "/zz-sentinel"  # written last: every event before it is one the recipes caused


def _use_recipes(client: coordkit.Client) -> list[object]:
    """Hold a lock, a semaphore and a leadership, register an instance and write a setting;
    the handles are returned so that they stay alive while the test looks."""
    lock = client.lock("orders/42")
    assert lock.acquire(timeout=DEADLINE)
    semaphore = client.semaphore("pools/db", 2)
    assert semaphore.acquire(timeout=DEADLINE)
    election = client.election("jobs/settlement")
    assert election.campaign("worker-1", timeout=DEADLINE)
    registration = client.register("payment-service", "127.0.0.1", 8081)
    client.config("payment-service", writable=True).set("timeout", 9)
    return [lock, semaphore, election, registration]


PARENTS = [
    "/orders",
    "/orders/42",
    "/pools",
    "/pools/db",
    "/jobs",
    "/jobs/settlement",
    "/services",
    "/services/payment-service",
    "/config",
    "/config/payment-service",
]


def test_recipe_parents_are_no_keys(client: coordkit.Client) -> None:
    handles = _use_recipes(client)
    assert {p: client.get(p) for p in PARENTS} == dict.fromkeys(PARENTS)
    keys = {entry.key for entry in client.tree("/")}
    assert not keys & set(PARENTS), sorted(keys & set(PARENTS))
    # the recipes' own keys are there, so the tree did look below the parents
    assert any(key.startswith("/orders/42/") for key in keys), sorted(keys)
    assert len(handles) == 4 and "/config/payment-service/timeout" in keys


def test_watches_show_no_recipe_parents(client: coordkit.Client) -> None:
    seen: list[WatchEvent] = []
    with client.watch("/", recursive=True) as events:
        handles = _use_recipes(client)
        client.put(SENTINEL, "end")
        while not seen or seen[-1].key != SENTINEL:
            event = events.get(timeout=DEADLINE)
            assert event is not None, f"no event within {DEADLINE}s after {[e.key for e in seen]}"
            seen.append(event)
    keys = {event.key for event in seen}
    assert not keys & set(PARENTS), sorted(keys & set(PARENTS))
    assert any(key.startswith("/orders/42/") for key in keys) and handles, sorted(keys)


@pytest.mark.parametrize("name", ["orders/42", "/orders/42"])
def test_a_lock_parent_is_no_key_after_release(client: coordkit.Client, name: str) -> None:
    lock = client.lock(name)
    assert lock.acquire(timeout=DEADLINE)
    lock.release()
    assert client.get("/orders/42") is None and client.get("/orders") is None
    assert client.tree("/") == []
