"""Locks, semaphores and elections on every backend: their waits, holdings, timeouts and
losses show up in the registry (read through prometheus_client's parser) and as spans."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from metrics_helpers import DEADLINE, Recording, eventually, sample

import coordkit

MakeClient = Callable[..., coordkit.Client]


def test_a_lock_wait_shows_up_in_the_wait_histogram(recording: Recording, make_client: MakeClient) -> None:
    holder, waiter = make_client(), make_client()
    reg = recording.registry
    held = holder.lock("jobs")
    assert held.acquire(timeout=DEADLINE)
    assert sample(reg, "coordkit_locks_held", kind="lock") == 1
    queued = waiter.lock("jobs")
    outcome: list[bool] = []
    thread = threading.Thread(target=lambda: outcome.append(queued.acquire(timeout=DEADLINE)))
    thread.start()
    eventually(lambda: len(held.contenders()) == 2, "the waiter queued behind the holder")
    pause = 0.3
    time.sleep(pause)  # the wait to be measured: the holder keeps the lock this long (not a sync)
    held.release()
    thread.join(DEADLINE)
    assert outcome == [True]
    assert sample(reg, "coordkit_lock_wait_seconds_count", kind="lock", outcome="acquired") == 2
    # The waiter's wait covers the pause; the buckets below it hold only the holder's quick acquire.
    assert sample(reg, "coordkit_lock_wait_seconds_sum", kind="lock", outcome="acquired") >= pause
    assert sample(reg, "coordkit_lock_wait_seconds_bucket", kind="lock", outcome="acquired", le="0.25") <= 1
    assert sample(reg, "coordkit_lock_hold_seconds_count", kind="lock") == 1
    assert sample(reg, "coordkit_lock_hold_seconds_sum", kind="lock") >= pause
    token = queued.token
    queued.release()
    assert sample(reg, "coordkit_locks_held", kind="lock") == 0
    spans = [s for s in recording.spans.get_finished_spans() if s.name == "coordkit lock acquire"]
    assert [s.attributes["coordkit.outcome"] for s in spans if s.attributes] == ["acquired", "acquired"]
    assert spans[1].attributes is not None and spans[1].attributes["coordkit.fencing_token"] == token
    assert spans[1].attributes["coordkit.backend"] == waiter.kind


def test_timeouts_and_busy_tries_are_counted(recording: Recording, make_client: MakeClient) -> None:
    holder, other = make_client(), make_client()
    reg = recording.registry
    assert holder.lock("busy").acquire(timeout=DEADLINE)
    assert not other.lock("busy").acquire(timeout=0.2)
    assert not other.lock("busy").acquire(blocking=False)
    assert sample(reg, "coordkit_lock_timeouts_total", kind="lock") == 1
    assert sample(reg, "coordkit_lock_wait_seconds_count", kind="lock", outcome="timeout") == 1
    assert sample(reg, "coordkit_lock_wait_seconds_count", kind="lock", outcome="busy") == 1
    sem = other.semaphore("slots", 1)
    assert sem.acquire(timeout=DEADLINE)
    assert sample(reg, "coordkit_locks_held", kind="semaphore") == 1
    sem.release()
    assert sample(reg, "coordkit_lock_hold_seconds_count", kind="semaphore") == 1


def test_a_loss_while_held_is_counted(recording: Recording, make_client: MakeClient) -> None:
    client = make_client()
    reg = recording.registry
    lock = client.lock("fragile")
    assert lock.acquire(timeout=DEADLINE)
    client.expire_session()
    assert lock.lost.wait(DEADLINE)
    eventually(lambda: sample(reg, "coordkit_lock_losses_total", kind="lock") == 1, "the loss is counted")
    assert sample(reg, "coordkit_locks_held", kind="lock") == 0
    assert sample(reg, "coordkit_lock_hold_seconds_count", kind="lock") == 1


def test_leadership_gauge_and_changes(recording: Recording, make_client: MakeClient) -> None:
    first, second = make_client(), make_client()
    reg = recording.registry
    leading = first.election("primary")
    assert leading.campaign("a", timeout=DEADLINE)
    assert sample(reg, "coordkit_leader") == 1
    assert sample(reg, "coordkit_leadership_changes_total", change="gained") == 1
    assert not second.election("primary").campaign("b", timeout=0.2)
    assert sample(reg, "coordkit_lock_timeouts_total", kind="leadership") == 1
    leading.resign()
    assert sample(reg, "coordkit_leader") == 0
    assert sample(reg, "coordkit_leadership_changes_total", change="resigned") == 1
    campaigns = [s.name for s in recording.spans.get_finished_spans() if "campaign" in s.name]
    assert campaigns == ["coordkit leadership campaign"] * 2
