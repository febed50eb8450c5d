"""A semaphore without a herd, on every backend: a departure wakes only the waiter that can
now enter. Wake-ups are counted structurally (each waiter's re-reads of the queue, per
thread), not timed: with 16 waiters behind 3 holders leaving in any order, each waiter
re-reads the queue exactly once, when its turn has come."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import coordkit
from coordkit.testing import eventually

DEADLINE = 30.0
LIMIT, WAITERS = 3, 16
ClientFactory = Callable[..., coordkit.Client]


def _count_queue_reads(client: coordkit.Client) -> Counter[int]:
    """Count ``client``'s queue listings by thread (a waiter's thread re-reads when woken)."""
    reads: Counter[int] = Counter()
    lock, listed = threading.Lock(), client.backend.queue_list

    def counted(path: str, **options: Any) -> Any:
        with lock:
            reads[threading.get_ident()] += 1
        return listed(path, **options)

    client.backend.queue_list = counted  # type: ignore[method-assign]
    return reads


def test_a_departure_wakes_only_the_waiter_that_can_enter(make_client: ClientFactory) -> None:
    holding, waiting = make_client(), make_client()
    holders = [holding.semaphore("pool", LIMIT) for _ in range(LIMIT)]
    assert all(slot.acquire(timeout=DEADLINE) for slot in holders)
    reads = _count_queue_reads(waiting)
    admitted: list[tuple[int, threading.Event]] = []
    changed, errors = threading.Condition(), []

    def wait_turn() -> None:
        slot = waiting.semaphore("pool", LIMIT)
        try:
            assert slot.acquire(timeout=DEADLINE * 2), "never admitted"
            leave = threading.Event()
            with changed:
                assert len(holding_now) < LIMIT, "admitted beyond the limit"
                holding_now.add(threading.get_ident())
                admitted.append((threading.get_ident(), leave))
                changed.notify_all()
            assert leave.wait(DEADLINE * 2)
            with changed:
                holding_now.discard(threading.get_ident())
            slot.release()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
            with changed:
                changed.notify_all()

    holding_now: set[int] = set(range(-LIMIT, 0))  # the first holders, by placeholder
    threads = [threading.Thread(target=wait_turn, daemon=True) for _ in range(WAITERS)]
    for thread in threads:
        thread.start()
    eventually(
        lambda: len(type(holding.backend).queue_list(holding.backend, "pool")[0]) == LIMIT + WAITERS,
        timeout=DEADLINE,
        interval=0.01,
        message="every waiter queued",
    )
    joined = Counter(reads)  # a backend's join may list the queue itself (memory does)

    # Holders leave out of order (the second oldest first): any of them admits the next waiter.
    def holder_leaves(key: int, slot: coordkit.Semaphore) -> Callable[[], None]:
        def leave() -> None:
            holding_now.discard(key)
            slot.release()

        return leave

    leaving = [holder_leaves(key, slot) for key, slot in zip(range(-LIMIT, 0), holders, strict=True)]
    for turn in range(1, WAITERS + 1):
        leave = leaving.pop(1 if len(leaving) > 1 else 0)
        with changed:
            leave()
            assert changed.wait_for(lambda n=turn: len(admitted) >= n or errors, DEADLINE), "nobody admitted"
            assert not errors, errors
            leaving.append(admitted[turn - 1][1].set)
    for leave in leaving:
        leave()
    for thread in threads:
        thread.join(DEADLINE)
    assert not errors, errors
    woken = {ident: reads[ident] - joined[ident] for ident, _ in admitted}
    assert list(woken.values()) == [1] * WAITERS, f"queue re-reads per waiter: {woken}"
