"""The store's order of one batch of a ZooKeeper watch (coordkit/backends/zookeeper/batch_order.py).

Notifications are ``(path, stamp, type)`` as the server sent them: created 1, deleted 2, changed 3.
"""

from __future__ import annotations

from coordkit.backends.base import Entry, EventType, WatchEvent
from coordkit.backends.zookeeper.batch_order import in_store_order

PUT, DELETE = EventType.PUT, EventType.DELETE


def _put(key: str, mod: int, created: int | None = None) -> Entry:
    return Entry(key, b"v", 1, created or mod, mod)


def _gone(key: str, observed: int) -> WatchEvent:
    return WatchEvent(DELETE, key, None, observed)


def _order(changes: list[tuple[EventType, str, Entry | None, int]]) -> list[tuple[EventType, str, int]]:
    return [(kind, key, revision) for kind, key, _, revision in changes]


def test_a_delete_notified_before_later_puts_comes_first_at_no_later_revision() -> None:
    notified = [("/x", 0.0, 2), ("/y", 0.0, 1), ("/z", 0.0, 3)]
    changes = in_store_order([_gone("/x", 30)], [_put("/z", 22), _put("/y", 21)], notified)
    assert _order(changes) == [(DELETE, "/x", 21), (PUT, "/y", 21), (PUT, "/z", 22)]


def test_a_delete_between_puts_goes_between_them() -> None:
    notified = [("/a", 0.0, 1), ("/x", 0.0, 2), ("/b", 0.0, 1)]
    changes = in_store_order([_gone("/x", 30)], [_put("/b", 12), _put("/a", 10)], notified)
    assert _order(changes) == [(PUT, "/a", 10), (DELETE, "/x", 12), (PUT, "/b", 12)]


def test_a_key_deleted_and_created_again_gets_its_delete_before_its_put() -> None:
    notified = [("/a", 0.0, 1), ("/k", 0.0, 2), ("/k", 0.0, 1)]
    changes = in_store_order([_gone("/k", 30)], [_put("/k", 15, created=14), _put("/a", 10)], notified)
    assert _order(changes) == [(PUT, "/a", 10), (DELETE, "/k", 14), (PUT, "/k", 15)]


def test_deletes_with_no_notification_follow_every_put_with_their_own_revision() -> None:
    changes = in_store_order([_gone("/x", 30), _gone("/w", 31)], [_put("/b", 12), _put("/a", 10)])
    assert _order(changes) == [(PUT, "/a", 10), (PUT, "/b", 12), (DELETE, "/x", 30), (DELETE, "/w", 31)]


def test_a_put_read_later_than_its_notification_keeps_its_revision_order() -> None:
    # /a was notified first but read at a later change (its next notification is in a later
    # batch): PUTs stay by revision, and the DELETE notified after /a's goes before /b's PUT,
    # the first of those notified after it.
    notified = [("/a", 0.0, 3), ("/x", 0.0, 2), ("/b", 0.0, 1)]
    changes = in_store_order([_gone("/x", 40)], [_put("/a", 30), _put("/b", 20)], notified)
    assert _order(changes) == [(DELETE, "/x", 20), (PUT, "/b", 20), (PUT, "/a", 30)]


def test_a_delete_whose_deletion_is_notified_later_follows_the_puts_notified_since() -> None:
    # k changed, then y; k's deletion is in the next batch: its read found it gone already.
    notified = [("/k", 0.0, 3), ("/y", 0.0, 3)]
    changes = in_store_order([_gone("/k", 30)], [_put("/y", 21)], notified)
    assert _order(changes) == [(PUT, "/y", 21), (DELETE, "/k", 30)]


def test_deletes_side_by_side_keep_the_order_of_their_deletions() -> None:
    # a's DELETE was owed from an earlier batch, and is listed after b's.
    notified = [("/a", 0.0, 2), ("/b", 0.0, 2)]
    changes = in_store_order([_gone("/b", 30), _gone("/a", 28)], [], notified)
    assert _order(changes) == [(DELETE, "/a", 28), (DELETE, "/b", 30)]


def test_the_ops_of_one_multi_share_its_revision() -> None:
    # [delete /old, create /new] in one multi: one zxid, at which /old is gone.
    notified = [("/old", 0.0, 2), ("/new", 0.0, 1)]
    changes = in_store_order([_gone("/old", 40)], [_put("/new", 33)], notified)
    assert _order(changes) == [(DELETE, "/old", 33), (PUT, "/new", 33)]


def test_a_key_become_an_implicit_parent_is_placed_by_its_marks_revision() -> None:
    # /k deleted while /k/c existed (the mark written at 10), then /y created at 11, /z at 9.
    notified = [("/z", 0.0, 1), ("/k", 0.0, 3), ("/y", 0.0, 1)]
    changes = in_store_order([_gone("/k", 10)], [_put("/y", 11), _put("/z", 9)], notified, exact={"/k"})
    assert _order(changes) == [(PUT, "/z", 9), (DELETE, "/k", 10), (PUT, "/y", 11)]
    without_notifications = in_store_order([_gone("/k", 10)], [_put("/y", 11), _put("/z", 9)], exact={"/k"})
    assert _order(without_notifications) == _order(changes)  # a full re-read's too


def test_keys_below_a_key_created_again_are_deleted_before_it() -> None:
    # /k and /k/c deleted, then /k created again; the read of /k saw it new (its creation's
    # notification in a later batch), /k/c's DELETE found by the drop of the old /k.
    notified = [("/k", 0.0, 3)]
    deletes = [_gone("/k/c", 30), _gone("/k", 30)]
    changes = in_store_order(deletes, [_put("/k", 25, created=25), _put("/a", 10)], notified)
    assert _order(changes) == [(PUT, "/a", 10), (DELETE, "/k/c", 25), (DELETE, "/k", 25), (PUT, "/k", 25)]
