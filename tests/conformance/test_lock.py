"""Locks and semaphores on every backend: exclusion, fairness, tokens, fencing, loss."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from lock_queues import DEADLINE, wait_queue_length

import coordkit

ClientFactory = Callable[..., coordkit.Client]


def test_acquire_release_and_properties(client: coordkit.Client) -> None:
    lock = client.lock("jobs/lock", identity="worker-1")
    assert not lock.is_held and lock.token is None
    assert lock.acquire() is True
    assert lock.is_held and lock.token is not None and lock.key is not None
    assert lock.key.lstrip("/").startswith("jobs/lock/")
    with pytest.raises(coordkit.OwnershipError):
        client.lock("jobs/lock").release()  # another handle does not hold it
    lock.release()
    assert not lock.is_held
    with pytest.raises(coordkit.OwnershipError):
        lock.release()


def test_exclusion_between_clients(make_client: ClientFactory) -> None:
    a, b = make_client(), make_client()
    held = a.lock("x")
    assert held.acquire()
    other = b.lock("x")
    assert other.acquire(blocking=False) is False
    started = time.monotonic()
    assert other.acquire(timeout=0.3) is False
    assert time.monotonic() - started >= 0.3
    assert len(a.backend.queue_list("x")[0]) == 1, "a timed-out waiter must leave the queue"
    held.release()
    assert other.acquire(timeout=DEADLINE)
    other.release()


def test_with_statement_and_threads_sharing_a_handle(client: coordkit.Client) -> None:
    lock = client.lock("shared")
    inside = 0
    overlaps = []

    def work() -> None:
        nonlocal inside
        for _ in range(5):
            with lock as entered:
                assert entered is lock
                inside += 1
                overlaps.append(inside)
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    assert overlaps == [1] * 20


def test_mutual_exclusion_under_contention(make_client: ClientFactory) -> None:
    """Read-modify-write of a counter under the lock: lost updates would show overlap."""
    clients = [make_client() for _ in range(4)]
    clients[0].put("/counter", "0")

    def work(c: coordkit.Client) -> None:
        lock = c.lock("counter-lock")
        for _ in range(5):
            with lock:
                value = int(c.get_text("/counter") or "0")
                c.put("/counter", str(value + 1), fence=lock)

    # The futures carry a worker's exception to this thread: result() raises it here.
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
        for done in [pool.submit(work, c) for c in clients]:
            done.result(timeout=60)
    assert clients[0].get_text("/counter") == "20"


def test_fair_first_come_first_served_and_tokens_increase(make_client: ClientFactory) -> None:
    owner = make_client()
    first = owner.lock("fair")
    assert first.acquire()
    order: list[int] = []
    tokens: list[int] = [first.token or 0]
    waiters = [make_client() for _ in range(4)]
    threads = []
    for index, c in enumerate(waiters):
        lock = c.lock("fair")

        def run(lock: coordkit.Lock = lock, index: int = index) -> None:
            assert lock.acquire(timeout=DEADLINE)
            order.append(index)
            tokens.append(lock.token or 0)
            lock.release()

        t = threading.Thread(target=run)
        t.start()
        threads.append(t)
        wait_queue_length(owner, "fair", index + 2)  # joined in this order
    first.release()
    for t in threads:
        t.join(DEADLINE)
    assert order == [0, 1, 2, 3]
    assert tokens == sorted(set(tokens)), f"tokens must strictly increase: {tokens}"


def test_fenced_write_refused_after_loss(make_client: ClientFactory) -> None:
    holder, other = make_client(), make_client()
    lock = holder.lock("fenced")
    assert lock.acquire()
    holder.put("/orders/1", "paid", fence=lock)
    fence_key, token = lock.fence_check()
    holder.expire_session()
    assert lock.lost.wait(DEADLINE), "the holder was not told of the loss"
    assert not lock.is_held and lock.token is None
    with pytest.raises(coordkit.OwnershipError):
        holder.put("/orders/1", "stale", fence=lock)
    # Once the old session is gone on the server, a stale holder that kept its fence key
    # and token is refused by the store itself.
    assert holder.session.wait_for(coordkit.SessionState.CONNECTED, DEADLINE)
    assert holder.session.generation == 2
    with pytest.raises(coordkit.ConflictError):
        holder.commit([coordkit.Check(fence_key, create_revision=token), coordkit.Put("/orders/1", b"stale")])
    successor = other.lock("fenced")
    assert successor.acquire(timeout=DEADLINE)
    assert (successor.token or 0) > token
    other.put("/orders/1", "refunded", fence=successor)
    assert other.get_text("/orders/1") == "refunded"
    with pytest.raises(coordkit.OwnershipError, match="lost"):
        lock.release()
    successor.release()


def test_a_refused_fenced_write_ends_the_holding(make_client: ClientFactory) -> None:
    holder, operator = make_client(), make_client()
    lock = holder.lock("removed")
    reasons: list[str] = []
    lock.on_lost(reasons.append)
    assert lock.acquire()
    assert lock.key is not None and operator.delete(lock.key)  # an operator removes the contender
    with pytest.raises(coordkit.OwnershipError):
        holder.put("/orders/2", "paid", fence=lock)
    # the store's answer is a proof: the holding is over now, not when the session next hears
    assert lock.lost.is_set() and not lock.is_held and lock.token is None and reasons
    with pytest.raises(coordkit.OwnershipError):
        lock.release()
    assert lock.acquire(timeout=DEADLINE)  # and the handle can hold again
    lock.release()


def test_loss_callbacks_fire(make_client: ClientFactory) -> None:
    holder = make_client()
    lock = holder.lock("cb")
    reasons: list[str] = []
    told = threading.Event()
    lock.on_lost(lambda reason: (reasons.append(reason), told.set()))
    assert lock.acquire()
    holder.expire_session()
    assert told.wait(DEADLINE)
    assert "lost" in reasons[0]
    # the handle can be acquired again (on the new session) without a release first
    assert lock.acquire(timeout=DEADLINE)
    assert lock.is_held and not lock.lost.is_set()
    lock.release()


def test_semaphore_admits_at_most_limit(make_client: ClientFactory) -> None:
    clients = [make_client() for _ in range(3)]
    slots = [c.semaphore("pool", 2) for c in clients]
    assert slots[0].acquire() and slots[1].acquire()
    assert slots[2].acquire(timeout=0.2) is False
    got = threading.Event()
    t = threading.Thread(target=lambda: slots[2].acquire(timeout=DEADLINE) and got.set())
    t.start()
    wait_queue_length(clients[0], "pool", 3)
    slots[0].release()  # the head leaves: the third is admitted
    assert got.wait(DEADLINE)
    t.join()
    slots[1].release()
    slots[2].release()


def test_semaphore_any_holder_leaving_admits_a_waiter(make_client: ClientFactory) -> None:
    clients = [make_client() for _ in range(3)]
    slots = [c.semaphore("pool2", 2) for c in clients]
    assert slots[0].acquire() and slots[1].acquire()
    got = threading.Event()
    t = threading.Thread(target=lambda: slots[2].acquire(timeout=DEADLINE) and got.set())
    t.start()
    wait_queue_length(clients[0], "pool2", 3)
    slots[1].release()  # not the head: must still admit the waiter
    assert got.wait(DEADLINE)
    t.join()


def test_bad_recipe_arguments(client: coordkit.Client) -> None:
    with pytest.raises(coordkit.InvalidNameError):
        client.lock("a//b")
    with pytest.raises(coordkit.ConfigurationError):
        client.semaphore("s", 0)


def test_one_key_one_guard_whatever_the_spelling(client: coordkit.Client) -> None:
    first, second = client.lock("spelt"), client.lock("/spelt")  # one key in a namespace
    assert first.acquire()
    assert second.acquire(timeout=0.2) is False
    first.release()
    assert second.acquire(timeout=DEADLINE)
    second.release()


def test_a_waiter_is_not_fooled_by_its_predecessor_key_coming_back(make_client: ClientFactory) -> None:
    """On etcd a session's contender key is <name>/<lease>, reused by its next join. A waiter
    that starts watching after its predecessor left and joined again must not wait for that
    new incarnation (which queues behind the waiter itself): it would wait for ever."""
    first, second = make_client(), make_client()
    ahead = first.lock("reuse")
    assert ahead.acquire()
    behind = second.lock("reuse")
    view = second.backend.queue_join(behind.name, b"", attempt="0" * 32)  # queued behind `ahead`
    predecessor = view.contenders[view.position - 1]
    ahead.release()  # the predecessor leaves...
    rejoined = threading.Thread(target=lambda: ahead.acquire(timeout=DEADLINE))
    rejoined.start()  # ...and joins again (on etcd: the same key, a new revision, behind us)
    wait_queue_length(first, "reuse", 2)
    started = time.monotonic()
    gone = second.backend.wait_gone(
        predecessor.key, 5, threading.Event(), create_revision=predecessor.create_revision
    )
    assert gone and time.monotonic() - started < 2, "the waiter waited for its own successor"
    second.backend.queue_leave(view.mine)
    rejoined.join(DEADLINE)
    if ahead.is_held:
        ahead.release()


# --- one name, one recipe, whatever its spelling (no namespace: etcd keeps keys as spelt) ---


def test_a_lock_name_means_one_lock_whatever_its_spelling(make_root_client: ClientFactory) -> None:
    base = f"ck-{uuid.uuid4().hex[:12]}/nightly"
    a, b = make_root_client(), make_root_client()
    slashed, bare = a.lock("/" + base), b.lock(base)
    assert slashed.name == bare.name == base  # canonical: relative to the namespace root
    assert slashed.acquire(timeout=DEADLINE)
    assert bare.acquire(timeout=0.3) is False, "/NAME and NAME must be one lock"
    assert slashed.key is not None and slashed.key.startswith(base + "/")  # the same form everywhere
    assert b.get(slashed.key) is not None, "a contender key is a key name that reads back"
    a.put(f"/{base}-data", "fenced", fence=slashed)  # the guarded write finds the contender key
    assert a.lock(base).acquire(timeout=0.3) is False  # the client's local guard: one per name
    slashed.release()
    assert bare.acquire(timeout=DEADLINE)
    bare.release()


def test_a_semaphore_or_rwlock_name_means_one_queue_whatever_its_spelling(
    make_root_client: ClientFactory,
) -> None:
    base = f"ck-{uuid.uuid4().hex[:12]}"
    a, b = make_root_client(), make_root_client()
    first, second = a.semaphore(f"/{base}/sem", 1), b.semaphore(f"{base}/sem", 1)
    assert first.acquire(timeout=DEADLINE)
    assert second.acquire(timeout=0.3) is False, "/NAME and NAME must be one semaphore"
    assert first.key is not None and first.key.startswith(f"{base}/sem/")
    first.release()
    writer, reader = a.rwlock(f"/{base}/rw"), b.rwlock(f"{base}/rw")
    assert writer.write.acquire(timeout=DEADLINE)
    assert reader.read.acquire(timeout=0.3) is False, "/NAME and NAME must be one rwlock"
    assert writer.write.key is not None and writer.write.key.startswith(f"{base}/rw/")
    writer.write.release()
