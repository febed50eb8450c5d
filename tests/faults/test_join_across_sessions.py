"""A join the store applied without answering, while the session was being replaced: the
request went out with the new session's lease (built as the lease changed), so the contender
landed on the session that replaced ours. The recipe must not queue a second contender of its
own behind it (with a semaphore, that first one takes a permit until the client closes; with a
limit of one, its creator waits behind it): the join is repeated with the same attempt in the
new session, which finds what it made. Deterministic: the backend's join is wrapped to replace
the session first, then to send the real join and report its reply lost."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
from coordkit.testing import eventually

DEADLINE = 10.0


def _landing_on_the_next_session(client: coordkit.Client, replace_session: Callable[..., int]) -> list[str]:
    """Wrap ``client``'s backend join once: replace the session, join in the new one, raise
    BackendUnavailableError as if the reply had been lost. Returns the attempts it saw."""
    backend: Any = client.backend
    join, attempts = backend.queue_join, []

    def landed_then_lost(path: str, value: bytes, **options: Any) -> Any:
        attempts.append(options.get("attempt"))
        if len(attempts) > 1:
            return join(path, value, **options)
        replace_session(client)
        join(path, value, **options)  # lands on the session replacing the one it was sent for
        raise coordkit.BackendUnavailableError("the reply was lost")

    backend.queue_join = landed_then_lost
    return attempts


@pytest.mark.parametrize("recipe", ["semaphore", "lock"])
def test_a_join_that_landed_on_the_replacing_session_is_found_not_doubled(
    make_client: Callable[..., coordkit.Client], replace_session: Callable[..., int], recipe: str
) -> None:
    owner, other = make_client(), make_client()
    attempts = _landing_on_the_next_session(owner, replace_session)
    handle = owner.semaphore("s/landed", 1) if recipe == "semaphore" else owner.lock("l/landed")
    assert handle.acquire(timeout=DEADLINE)
    assert len(attempts) == 2 and attempts[0] == attempts[1]  # the same join, repeated
    contenders = handle.contenders()
    assert len(contenders) == 1, contenders  # ours, once: no contender of ours ahead of us
    entry = other.get(contenders[0].key)
    assert entry is not None and entry.lease == owner.session.session_id
    handle.release()
    assert handle.contenders() == []


def test_a_join_sent_as_the_lease_changed_and_given_up_is_removed_in_the_next_session(
    make_client: Callable[..., coordkit.Client],
) -> None:
    """The real window: the new session is open on the server (the lease changed) but not yet
    announced, and a join goes out in it, unanswered. The acquire's deadline passes before the
    new session is announced; the join is given up, and what it made is removed once that
    session is CONNECTED, although it is not the one the join was sent for."""
    owner, other = make_client(), make_client()
    backend: Any = owner.backend
    join, new_session = backend.queue_join, backend.new_session
    opened, announce = threading.Event(), threading.Event()

    def held_before_announcing(timeout: float) -> Any:
        session_id = new_session(timeout)  # the backend's lease (or client) is the new one now
        opened.set()
        announce.wait(DEADLINE)  # the generation moves once this returns
        return session_id

    def sent_in_the_window(path: str, value: bytes, **options: Any) -> Any:
        backend.queue_join = join  # once
        owner.expire_session()
        assert opened.wait(DEADLINE)
        join(path, value, **options)  # lands on the session not yet announced
        raise coordkit.BackendUnavailableError("the reply was lost")

    backend.new_session, backend.queue_join = held_before_announcing, sent_in_the_window
    semaphore = owner.semaphore("s/window", 1)
    generation = owner.session.generation
    assert not semaphore.acquire(timeout=1.0)  # no session to wait in before the deadline
    assert owner.session.generation == generation  # still not announced
    assert len(semaphore.contenders()) == 1  # what the join made, on the coming session
    announce.set()
    eventually(
        lambda: owner.session.generation > generation and other.backend.queue_list("s/window")[0] == [],
        timeout=DEADLINE,
        message="the given-up join's contender removed in the new session",
    )
