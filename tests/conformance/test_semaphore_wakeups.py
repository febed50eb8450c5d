"""A semaphore without a herd, on every backend: a departure reaches only the few waiters
watching it, and in a queue served in order wakes only the waiter that can now enter. Both
are counted structurally, not timed: with 16 waiters behind 3 holders, no waiter watches the
queue's prefix and no contender is watched by more than 3 waiters at once; holders leaving
in order, each waiter re-reads the queue exactly once, when its turn has come; leaving out of
order, a release makes at most 3 waiters read it (recipes/_departures.py)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

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


class Watchers:
    """Who watches which contender of ``client``'s semaphore waits, at once, and any prefix
    watch it starts (the herd: every departure would reach every waiter)."""

    def __init__(self, client: coordkit.Client) -> None:
        self._lock = threading.Lock()
        self._now: Counter[str] = Counter()
        self.most = 0  # the most waiters that watched one contender at once
        self.windows: Counter[int] = Counter()  # window waits per thread
        self.prefixes: list[str] = []
        waited, watched = client.backend.wait_any_gone, client.backend.watch

        def wait_any_gone(ahead: Any, *args: Any, **options: Any) -> Any:
            keys = [contender.key for contender in ahead]
            with self._lock:
                self._now.update(keys)
                self.most = max([self.most, *(self._now[key] for key in keys)])
                assert keys, "a window wait watched nothing"
                self.windows[threading.get_ident()] += 1
            try:
                return waited(ahead, *args, **options)
            finally:
                with self._lock:
                    self._now.subtract(keys)

        def watch(key: str, *args: Any, prefix: bool = False, **options: Any) -> Any:
            if prefix:
                with self._lock:
                    self.prefixes.append(key)
            return watched(key, *args, prefix=prefix, **options)

        client.backend.wait_any_gone = wait_any_gone  # type: ignore[method-assign]
        client.backend.watch = watch  # type: ignore[method-assign]


@pytest.mark.parametrize("second_first", [False, True], ids=["in order", "the second oldest first"])
def test_a_release_reaches_only_its_watchers_and_wakes_one(
    make_client: ClientFactory, second_first: bool
) -> None:
    holding, waiting = make_client(), make_client()
    holders = [holding.semaphore("pool", LIMIT) for _ in range(LIMIT)]
    assert all(slot.acquire(timeout=DEADLINE) for slot in holders)
    reads, watchers = _count_queue_reads(waiting), Watchers(waiting)
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

    # Holders leave in order, or out of order (the second oldest first): any of them admits.
    def holder_leaves(key: int, slot: coordkit.Semaphore) -> Callable[[], None]:
        def leave() -> None:
            holding_now.discard(key)
            slot.release()

        return leave

    leaving = [holder_leaves(key, slot) for key, slot in zip(range(-LIMIT, 0), holders, strict=True)]
    for turn in range(1, WAITERS + 1):
        leave = leaving.pop(1 if second_first and len(leaving) > 1 else 0)
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
    if second_first:  # each waiter told of a departure reads once: at most LIMIT per release
        assert all(woken.values()) and sum(woken.values()) <= LIMIT * WAITERS, f"re-reads: {woken}"
    else:
        assert list(woken.values()) == [1] * WAITERS, f"queue re-reads per waiter: {woken}"
    assert not watchers.prefixes, f"waiters watched the whole queue: {watchers.prefixes}"
    assert all(watchers.windows[ident] for ident, _ in admitted), f"window waits: {watchers.windows}"
    assert watchers.most <= LIMIT, f"{watchers.most} waiters watched one contender at once"


def test_a_waiter_whose_read_fails_after_its_turn_came_reads_again(make_client: ClientFactory) -> None:
    """A departure leaves fewer than the limit ahead, and the read that would admit the waiter
    fails (an unreachable store for one call): the waiter must read again, not wait on a
    window it has emptied."""
    holding, waiting = make_client(), make_client()
    holders = [holding.semaphore("flaky", 2) for _ in range(2)]
    assert all(slot.acquire(timeout=DEADLINE) for slot in holders)
    failing, listed = threading.Event(), waiting.backend.queue_list

    def flaky(path: str, **options: Any) -> Any:
        if failing.is_set():
            failing.clear()
            raise coordkit.BackendUnavailableError("refused once by the test")
        return listed(path, **options)

    waiting.backend.queue_list = flaky  # type: ignore[method-assign]
    slot, admitted = waiting.semaphore("flaky", 2), threading.Event()
    thread = threading.Thread(target=lambda: slot.acquire(timeout=DEADLINE) and admitted.set(), daemon=True)
    thread.start()
    eventually(
        lambda: len(type(holding.backend).queue_list(holding.backend, "flaky")[0]) == 3,
        timeout=DEADLINE,
        interval=0.01,
        message="the waiter queued",
    )
    failing.set()
    holders[0].release()
    assert admitted.wait(DEADLINE / 3), "the waiter did not read the queue again"
    assert not failing.is_set(), "the failing read was never made"
    thread.join(DEADLINE)
    slot.release()
    holders[1].release()
