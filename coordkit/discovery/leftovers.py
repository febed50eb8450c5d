"""What a registration's write may have left when the store did not answer it: the caller was
told the instance is not registered (or gave the register up), so an instance the store did
apply must not stay where clients are sent to it. It is removed as soon as the session is back
(:func:`~coordkit.core.when_connected.when_connected`), by the session that wrote it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from ..backends.base import Check, Delete, Entry
from ..core.when_connected import cleanup_generation, when_connected
from ..errors import ConflictError
from .formats import FormatError, InstanceFormat

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["holding", "incarnation", "of_an_earlier_session", "remove_if_left"]


def remove_if_left(store: Store, key: str, left: Callable[[Entry], bool]) -> None:
    """Once the session is CONNECTED again, delete ``key`` if it is still this session's own
    ephemeral key and ``left(entry)`` says it is what the caller left there (and it is
    unchanged since it was read). If the session is lost instead, the key went with it."""

    def remove() -> None:
        existing = store.get(key)
        if existing is None or existing.lease != store.session.session_id or not left(existing):
            return
        unchanged = Check(key, create_revision=existing.create_revision, version=existing.version)
        with contextlib.suppress(ConflictError):  # changed between the read and the delete: not ours
            store.commit([unchanged, Delete(key)])

    # The session as it is now, or the next if it is over: a write cut off while the session was
    # being replaced may have landed on the new one, never on one older than this.
    generation = cleanup_generation(store, store.session.generation)
    when_connected(store, generation, remove, f"the unconfirmed registration {key}")


def holding(value: bytes) -> Callable[[Entry], bool]:
    """What an unanswered create left: the key holding exactly what it sent. A registration of
    the same id made meanwhile by this client writes its own value (its instance carries its own
    registration time), so it is left alone. (Never pass the value of a write over a key the
    session already had: that key may be another live registration's.)"""
    return lambda entry: entry.value == value


def incarnation(fmt: InstanceFormat, name: str, instance_id: str, entry: Entry) -> Callable[[Entry], bool]:
    """What an unanswered deregistration left: ``entry``'s key itself (same create revision)
    with the same registration time, whatever was written over it since (an operator's status,
    an update that landed unanswered), but not another registration of the id that adopted the
    key and wrote its own instance over it."""

    def registered_at(value: bytes) -> int | None:
        try:
            return fmt.decode(name, instance_id, value).registered_at
        except FormatError:
            return None

    when = registered_at(entry.value)
    return lambda found: (
        when is not None
        and found.create_revision == entry.create_revision
        and registered_at(found.value) == when
    )


def of_an_earlier_session(
    existing: Entry, previous: Entry | None, tried: Collection[tuple[int, bytes]]
) -> bool:
    """Whether ``existing``, found where a registration creates its key, is that registration's
    own key of a session before the current one, which the server has not removed yet (it
    will: an etcd leader change renews every lease, a ZooKeeper server may not have heard the
    old session close): the key it last wrote (``previous``), or one made by a create it sent,
    whose reply never came, under one of the sessions ``tried`` with that very value (its
    registration time tells it from another registration of the id on the same client).
    Never true of a key of the current session (check that first) nor of another client's:
    session ids are not reused."""
    if previous is not None and (existing.lease, existing.create_revision) == (
        previous.lease,
        previous.create_revision,
    ):
        return True
    return bool(existing.lease) and (existing.lease, existing.value) in tried
