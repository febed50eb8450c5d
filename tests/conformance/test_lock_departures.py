"""A lock waiter and the departure it waits for, on every backend: after the departure it reads
the queue before it enters, so a waiter whose own contender somebody else deleted (before, with
or after the holder's, told late or on a retried wait) joins again behind the next waiter and
never holds beside it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from lock_queues import DEADLINE, wait_queue_length

import coordkit
from coordkit import Delete
from coordkit.errors import BackendUnavailableError
from coordkit.testing import eventually

ClientFactory = Callable[..., coordkit.Client]


class _Queued:
    """Queue H (holding), W, V on one lock, W and V acquiring in threads, and an operator.
    ``prepare_w`` is given W's client before W joins."""

    def __init__(
        self,
        make_client: ClientFactory,
        label: str,
        prepare_w: Callable[[coordkit.Client], None] | None = None,
    ) -> None:
        holder, self.operator = make_client(), make_client()
        self.name = f"jobs/{label}-{uuid.uuid4().hex[:8]}"
        self.h = holder.lock(self.name)
        assert self.h.acquire(timeout=DEADLINE)
        w_client = make_client()
        if prepare_w is not None:
            prepare_w(w_client)
        self.w, self.v = w_client.lock(self.name), make_client().lock(self.name)
        self.got: dict[str, bool] = {}
        self.threads = []
        for who, lock, length in (("w", self.w, 2), ("v", self.v, 3)):
            self.threads.append(
                threading.Thread(
                    target=lambda lk=lock, k=who: self.got.__setitem__(k, lk.acquire(timeout=DEADLINE))
                )
            )
            self.threads[-1].start()
            wait_queue_length(self.operator, self.name, length)

    def incarnations(self) -> list[tuple[str, int]]:
        return [(c.key, c.create_revision) for c in self.operator.backend.queue_list(self.name)[0]]

    def v_holds_and_w_joins_again(self, w_was: tuple[str, int]) -> None:
        """V holds and W is queued again behind it as a new contender (not the incarnation
        ``w_was``), never holding beside V; then V releases and W holds. A W that held on its
        deleted contender would leave V's alone in the queue: the wait times out."""
        both: list[bool] = []

        def settled() -> bool:
            both.append(self.w.is_held and self.v.is_held)
            queue = self.incarnations()
            return self.v.is_held and len(queue) == 2 and queue[1] != w_was

        eventually(
            settled, timeout=DEADLINE, interval=0.005, message="V to hold with W queued again behind it"
        )
        assert not any(both), "W held beside V"
        assert not self.w.is_held
        self.v.release()
        for thread in self.threads:
            thread.join(DEADLINE)
        assert self.got == {"v": True, "w": True} and self.w.is_held
        self.w.release()


def test_a_waiter_whose_contender_an_operator_deleted_joins_again_behind(make_client: ClientFactory) -> None:
    """Queue H, W, V; an operator deletes W's contender, then H releases: V holds and W joins
    again behind it (entering on H's departure alone would let W hold without a contender,
    beside V)."""
    queued = _Queued(make_client, "outside")
    w_was = queued.incarnations()[1]
    assert queued.operator.delete(w_was[0])  # an operator removes W's contender
    queued.h.release()
    queued.v_holds_and_w_joins_again(w_was)


def test_a_waiter_deleted_with_the_holder_in_one_transaction_joins_again(make_client: ClientFactory) -> None:
    """Queue H, W, V; one transaction deletes H's contender, then W's (the order in which
    W is told H's departure first): W was not there when H went, so it must not hold. V holds,
    W joins again behind it, and at no point do both hold."""
    queued = _Queued(make_client, "together")
    (h_key, _), w_was = queued.incarnations()[:2]
    queued.operator.commit([Delete(h_key), Delete(w_was[0])])
    queued.v_holds_and_w_joins_again(w_was)
    queued.h.release()  # its contender is gone: the release only tells the loss


@pytest.mark.parametrize("how", ["late", "retried"])
def test_a_waiter_told_of_the_departure_after_its_own_contender_went_joins_again(
    make_client: ClientFactory, how: str
) -> None:
    """Queue H, W, V. W's wait for H is held back until H has released and an operator has
    then deleted W's contender (two revisions), and V holds: ``late``, W's wait then starts
    (its watch is told both deletions at once, from the history, as after a slow watch
    start); ``retried``, W's first wait fails as a stream that was not set up in time does,
    and W waits again from the same queue read. Either way W must not hold beside V: the
    departure it waited for was not its turn, its contender was gone."""
    entered, go = threading.Event(), threading.Event()

    def hold_back_the_first_wait(client: coordkit.Client) -> None:
        backend, first = client.backend, [True]
        real = backend.wait_gone_since

        def held_back(*args: Any, **options: Any) -> bool:
            if first[0]:
                first[0] = False
                entered.set()
                assert go.wait(DEADLINE)
                if how == "retried":
                    raise BackendUnavailableError("the departure watch was not set up in time")
            return bool(real(*args, **options))

        backend.wait_gone_since = held_back  # type: ignore[method-assign]

    queued = _Queued(make_client, how, prepare_w=hold_back_the_first_wait)
    assert entered.wait(DEADLINE), "W never waited for H"
    w_was = queued.incarnations()[1]
    queued.h.release()  # H goes while W's contender is there
    assert queued.operator.delete(w_was[0])  # then an operator removes W's
    eventually(lambda: queued.v.is_held, timeout=DEADLINE, interval=0.01, message="V to hold")
    go.set()
    queued.v_holds_and_w_joins_again(w_was)


def test_the_waiter_behind_one_that_gave_up_waits_for_the_holder_and_reads_once(
    make_client: ClientFactory,
) -> None:
    """A waiter whose predecessor gives up reads the queue again and waits for the holder
    (the next one ahead, not the herd); the holder's departure admits it after one read of the
    queue, the read that finds it at the head."""
    holding, middle, last = make_client(), make_client(), make_client()
    head = holding.lock("turns")
    assert head.acquire(timeout=DEADLINE)
    reads, waits = [0], []
    listed, wait_gone = last.backend.queue_list, last.backend.wait_gone_since

    def counted_list(path: str, **options: Any) -> Any:
        reads[0] += 1
        return listed(path, **options)

    def counted_wait(key: str, *args: Any, **options: Any) -> bool:
        waits.append(key)
        return bool(wait_gone(key, *args, **options))

    last.backend.queue_list = counted_list  # type: ignore[method-assign]
    last.backend.wait_gone_since = counted_wait  # type: ignore[method-assign]
    # The middle waiter's first wait returns only once the tail has joined, so its timeout can
    # run out only behind the tail, however slow the machine.
    assert middle.backend is not last.backend
    tail_joined, middle_wait = threading.Event(), middle.backend.wait_gone_since

    def gated_wait(key: str, *args: Any, **options: Any) -> bool:
        if not tail_joined.is_set():
            tail_joined.wait(DEADLINE)
            return False
        return bool(middle_wait(key, *args, **options))

    middle.backend.wait_gone_since = gated_wait  # type: ignore[method-assign]
    waiting = middle.lock("turns")
    gave_up = threading.Thread(target=lambda: waiting.acquire(timeout=1.5), daemon=True)
    gave_up.start()
    wait_queue_length(holding, "turns", 2)
    tail = last.lock("turns")
    got = threading.Event()
    entering = threading.Thread(target=lambda: tail.acquire(timeout=DEADLINE * 2) and got.set(), daemon=True)
    entering.start()
    wait_queue_length(holding, "turns", 3)
    tail_joined.set()
    gave_up.join(DEADLINE)  # the middle waiter leaves at its timeout: the tail reads again
    assert not waiting.is_held
    eventually(
        lambda: len(waits) >= 2, timeout=DEADLINE, interval=0.01, message=f"the tail to wait again ({waits})"
    )
    assert waits[-1] == head.key, f"the tail waits for {waits[-1]}, not the holder {head.key}"
    assert not got.is_set(), "admitted while the holder holds"
    before = reads[0]
    head.release()
    assert got.wait(DEADLINE), "the holder's departure must admit the waiter right behind it"
    assert reads[0] - before == 1
    assert tail.is_held and tail.token is not None
    tail.release()
    entering.join(DEADLINE)
