"""The contender-queue protocol (:class:`coordkit.backends.contender_queue.ContenderQueue`) on
every backend: one suite, the same semantics on memory, etcd and ZooKeeper, whatever the wire
layout (etcdctl's keys, Curator's nodes). Each test names the clause of the contract it holds."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
from coordkit.backends.contender_queue import Contender

ClientFactory = Callable[..., coordkit.Client]


def _attempt() -> str:
    return uuid.uuid4().hex


def _ours(client: coordkit.Client, path: str) -> list[Contender]:
    """The contenders of ``client``'s session under ``path``, as listed with values."""
    contenders, _ = client.backend.queue_list(path, values=True)
    return [
        c
        for c in contenders
        if (entry := client.get(c.key)) is not None and entry.lease == client.backend.session_id
    ]


def test_a_join_learns_the_queue_and_its_head(make_client: ClientFactory) -> None:
    """join: one call adds the contender and returns the queue in order, the head first."""
    first, second = make_client(), make_client()
    head = first.backend.queue_join("q/head", b"one", attempt=_attempt())
    assert head.position == 0 and head.contenders == [head.mine]
    assert head.mine.create_revision > 0 and head.mine.value == b"one"
    behind = second.backend.queue_join("q/head", b"two", attempt=_attempt())
    assert behind.position == 1
    assert [c.key for c in behind.contenders] == [head.mine.key, behind.mine.key]
    assert behind.mine.sequence > head.mine.sequence
    assert behind.mine.create_revision > head.mine.create_revision  # the fencing token grows


def test_contender_keys_are_relative_and_readable(client: coordkit.Client) -> None:
    """Keys come back relative to the namespace root, no leading slash, and ``get`` reads them."""
    view = client.backend.queue_join("/q/keys", b"v", attempt=_attempt())
    assert view.mine.key.startswith("q/keys/")
    entry = client.get(view.mine.key)
    assert entry is not None and entry.value == b"v" and entry.create_revision == view.mine.create_revision


def test_one_session_has_one_contender_per_path_without_unique(client: coordkit.Client) -> None:
    """Without ``unique`` a session has at most one contender per path (etcd's layout demands
    it, and every backend keeps to it): a second join does not add a second contender."""
    client.backend.queue_join("q/single", b"", attempt=_attempt())
    client.backend.queue_join("q/single", b"", attempt=_attempt())
    contenders, _ = client.backend.queue_list("q/single")
    assert len(contenders) == 1, contenders


def test_without_unique_a_join_without_attempt_adopts_the_sessions_contender(client: coordkit.Client) -> None:
    first = client.backend.queue_join("q/adopt", b"")
    again = client.backend.queue_join("q/adopt", b"")
    assert (again.mine.key, again.mine.create_revision) == (first.mine.key, first.mine.create_revision)
    assert len(client.backend.queue_list("q/adopt")[0]) == 1


def test_without_unique_a_new_attempt_replaces_the_contender_left_behind(make_client: ClientFactory) -> None:
    """A contender this session left behind (its removal still pending) is replaced by a new one
    at the back of the queue, with a new token; the pending removal of the old one, when it
    runs, does not remove the new one."""
    first, second = make_client(), make_client()
    stale = first.backend.queue_join("q/replace", b"", attempt=_attempt()).mine
    other = second.backend.queue_join("q/replace", b"", attempt=_attempt()).mine
    fresh = first.backend.queue_join("q/replace", b"", attempt=_attempt())
    assert fresh.mine.create_revision > other.create_revision > stale.create_revision
    assert [c.key for c in fresh.contenders] == [other.key, fresh.mine.key] and fresh.position == 1
    first.backend.queue_leave(stale)  # the old removal, arriving late
    assert [c.key for c in first.backend.queue_list("q/replace")[0]] == [other.key, fresh.mine.key]


@pytest.mark.parametrize("unique", [False, True])
def test_a_repeated_attempt_finds_its_own_contender(client: coordkit.Client, unique: bool) -> None:
    """A join repeated with the same ``attempt`` (a retry whose answer was lost) finds the
    contender that attempt created instead of queueing a second one behind it."""
    attempt = _attempt()
    first = client.backend.queue_join("q/retry", b"", unique=unique, attempt=attempt)
    again = client.backend.queue_join("q/retry", b"", unique=unique, attempt=attempt)
    assert (again.mine.key, again.mine.create_revision) == (first.mine.key, first.mine.create_revision)
    assert [c.key for c in again.contenders] == [first.mine.key]


@pytest.mark.parametrize("unique", [False, True])
def test_a_repeated_attempt_in_a_new_session_joins_afresh(
    client: coordkit.Client,
    unique: bool,
    old_session_kept: Callable[..., Any],
    replace_session: Callable[..., int],
) -> None:
    """A join repeated with the same ``attempt`` after the session was replaced (the asyncio
    recipe retries an unconfirmed join in whatever session is current) does not adopt the
    contender that attempt made in the old session, even while the server still holds it: that
    one goes with its session, and a place that vanishes then would let another contender in
    while we believe we hold it. The repeat joins in the current session, behind the old one."""
    attempt = _attempt()
    old = client.backend.queue_join("q/resession", b"", unique=unique, attempt=attempt)
    with old_session_kept(client):
        replace_session(client)
    again = client.backend.queue_join("q/resession", b"", unique=unique, attempt=attempt)
    assert again.mine.key != old.mine.key
    entry = client.get(again.mine.key)
    assert entry is not None and entry.lease == client.backend.session_id
    assert [c.key for c in again.contenders] == [old.mine.key, again.mine.key] and again.position == 1


def test_with_unique_a_session_may_have_several_contenders(client: coordkit.Client) -> None:
    one = client.backend.queue_join("q/many", b"1", unique=True, attempt=_attempt())
    two = client.backend.queue_join("q/many", b"2", unique=True, attempt=_attempt())
    assert one.mine.key != two.mine.key and two.position == 1
    contenders, _ = client.backend.queue_list("q/many", values=True)
    assert [(c.key, c.value) for c in contenders] == [(one.mine.key, b"1"), (two.mine.key, b"2")]
    assert len(_ours(client, "q/many")) == 2


def test_list_in_order_with_values_on_request(make_client: ClientFactory) -> None:
    clients = [make_client() for _ in range(3)]
    joined = [
        c.backend.queue_join("q/list", f"v{i}".encode(), attempt=_attempt()).mine
        for i, c in enumerate(clients)
    ]
    keys_only, revision = clients[0].backend.queue_list("q/list")
    assert [c.key for c in keys_only] == [m.key for m in joined] and revision > 0
    filled, _ = clients[0].backend.queue_list("q/list", values=True)
    assert [(c.value, c.create_revision) for c in filled] == [(m.value, m.create_revision) for m in joined]
    assert clients[0].backend.queue_list("q/nothing-here") == (
        [],
        clients[0].backend.queue_list("q/nothing-here")[1],
    )


def test_leave_is_idempotent(client: coordkit.Client) -> None:
    mine = client.backend.queue_join("q/leave", b"", attempt=_attempt()).mine
    client.backend.queue_leave(mine)
    client.backend.queue_leave(mine)
    assert client.backend.queue_list("q/leave")[0] == [] and client.get(mine.key) is None


def test_wait_gone_returns_once_the_predecessor_leaves(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    ahead = first.backend.queue_join("q/wait", b"", attempt=_attempt()).mine
    second.backend.queue_join("q/wait", b"", attempt=_attempt())
    result: list[bool] = []
    waiter = threading.Thread(
        target=lambda: result.append(
            second.backend.wait_gone(ahead.key, 15, threading.Event(), create_revision=ahead.create_revision)
        )
    )
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting: only the departure may end it
    assert not result
    first.backend.queue_leave(ahead)
    waiter.join(15)
    assert result == [True]
    assert second.backend.wait_gone(ahead.key, 1, threading.Event()) is True  # gone already


def test_wait_gone_gives_up_on_timeout_or_wake(make_client: ClientFactory) -> None:
    first, second = make_client(), make_client()
    ahead = first.backend.queue_join("q/give-up", b"", attempt=_attempt()).mine
    started = time.monotonic()
    assert (
        second.backend.wait_gone(ahead.key, 0.3, threading.Event(), create_revision=ahead.create_revision)
        is False
    )
    assert time.monotonic() - started < 5
    wake = threading.Event()
    threading.Timer(0.2, wake.set).start()
    assert second.backend.wait_gone(ahead.key, 15, wake, create_revision=ahead.create_revision) is False


def test_wait_gone_counts_another_incarnation_as_gone(make_client: ClientFactory) -> None:
    """With ``create_revision`` the predecessor is that incarnation of the key: one with another
    create revision is gone, or a waiter could wait for its own successor."""
    first, second = make_client(), make_client()
    ahead = first.backend.queue_join("q/incarnation", b"", attempt=_attempt()).mine
    started = time.monotonic()
    assert second.backend.wait_gone(
        ahead.key, 5, threading.Event(), create_revision=ahead.create_revision + 1
    )
    assert time.monotonic() - started < 2


def test_wait_any_gone_tells_which_of_the_window_left(make_client: ClientFactory) -> None:
    """A semaphore waiter's window: the wait ends at the first departure among the contenders
    watched and tells which; one that left after the listing is found gone when armed; a
    timeout or a wake by somebody else tells none."""
    holders, waiter = [make_client() for _ in range(3)], make_client()
    ours = [h.backend.queue_join("q/any", b"", unique=True, attempt=_attempt()).mine for h in holders]
    view = waiter.backend.queue_join("q/any", b"", unique=True, attempt=_attempt())
    window, since = view.contenders[:3], view.revision
    assert [c.key for c in window] == [c.key for c in ours]
    told: list[set[str]] = []
    armed = _Armed()
    waiting = threading.Thread(
        target=lambda: told.append(waiter.backend.wait_any_gone(window, 15, armed, since_revision=since))
    )
    waiting.start()
    assert armed.waiting.wait(15), "the wait never armed"
    holders[1].backend.queue_leave(ours[1])  # told by the watches, not found when arming
    waiting.join(15)
    assert told == [{ours[1].key}]
    started = time.monotonic()
    assert waiter.backend.wait_any_gone(window, 15, threading.Event(), since_revision=since) == {ours[1].key}
    assert time.monotonic() - started < 5, "a contender gone since the listing must be found at once"
    # Read as it is armed (0: no listing revision to watch from): the same answer, at once.
    assert waiter.backend.wait_any_gone(window, 15, threading.Event(), since_revision=0) == {ours[1].key}
    holders[2].backend.queue_leave(ours[2])
    both = {ours[1].key, ours[2].key}
    # Two gone: a watch from the listing's revision may tell the first before the second...
    told_now = waiter.backend.wait_any_gone(window, 15, threading.Event(), since_revision=since)
    assert told_now and told_now <= both, told_now
    # ...a wait read as it is armed finds both.
    assert waiter.backend.wait_any_gone(window, 15, threading.Event(), since_revision=0) == both
    rest = [ours[0]]
    assert waiter.backend.wait_any_gone(rest, 0.3, threading.Event(), since_revision=since) == set()
    wake = threading.Event()
    threading.Timer(0.2, wake.set).start()
    started = time.monotonic()
    assert waiter.backend.wait_any_gone(rest, 15, wake, since_revision=since) == set()
    assert time.monotonic() - started < 5, "a wake by somebody else must end the wait"


class _Armed(threading.Event):
    """A waiter's ``wake`` that tells when the backend starts waiting on it: its watches are
    armed by then (every backend arms, then waits on ``wake``)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def test_update_is_guarded_by_the_entry_unchanged(client: coordkit.Client) -> None:
    """queue_update writes our contender's value only while it is the very entry we know
    (same incarnation, same version); VersionConflictError otherwise, also once it left."""
    mine = client.backend.queue_join("q/update", b"v1", attempt=_attempt()).mine
    updated = client.backend.queue_update(mine, b"v2")
    assert updated.key == mine.key and updated.value == b"v2" and updated.version == mine.version + 1
    assert updated.create_revision == mine.create_revision
    entry = client.get(mine.key)
    assert entry is not None and entry.value == b"v2" and entry.version == updated.version
    with pytest.raises(coordkit.VersionConflictError):
        client.backend.queue_update(mine, b"stale")  # ``mine`` still has the first version
    assert client.get(mine.key).value == b"v2"  # type: ignore[union-attr]
    client.backend.queue_leave(updated)
    with pytest.raises(coordkit.VersionConflictError):
        client.backend.queue_update(updated, b"gone")


def test_a_guarded_commit_holds_only_while_the_contender_exists(client: coordkit.Client) -> None:
    """The fence: a commit checking the contender's create revision applies while it is there."""
    mine = client.backend.queue_join("q/fence", b"", attempt=_attempt()).mine
    client.commit(
        [coordkit.Check(mine.key, create_revision=mine.create_revision), coordkit.Put("/fenced", b"1")]
    )
    client.backend.queue_leave(mine)
    with pytest.raises(coordkit.ConflictError):
        client.commit(
            [coordkit.Check(mine.key, create_revision=mine.create_revision), coordkit.Put("/fenced", b"2")]
        )
    assert client.get("/fenced").value == b"1"  # type: ignore[union-attr]
