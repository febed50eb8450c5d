"""What a registration's write may have left when the store did not answer it: the caller was
told the instance is not registered (or gave the register up), so an instance the store did
apply must not stay where clients are sent to it. It is removed as soon as the session is back
(:func:`~coordkit.core.when_connected.when_connected`), by the session that wrote it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..backends.base import Check, Delete
from ..core.when_connected import when_connected
from ..errors import ConflictError

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["remove_if_left"]


def remove_if_left(
    store: Store, key: str, *, value: bytes | None = None, create_revision: int | None = None
) -> None:
    """Once the session is CONNECTED again, delete ``key`` if it is still what this session
    wrote there (its own ephemeral key, holding ``value``, or of that ``create_revision``: a
    deregistration not answered, whatever was written over the key since; unchanged since it
    was read). If the session is lost instead, the key went with it.

    A registration of the same key made meanwhile by this client writes its own value (its
    instance carries its own registration time) or has adopted the key and written over it:
    either way the key no longer matches, and it is left alone. (A caller must not pass the
    value of a write over a key this session already had: that key may be another live
    registration's.)"""

    def remove() -> None:
        existing = store.get(key)
        if existing is None or existing.lease != store.session.session_id:
            return
        if (value is not None and existing.value != value) or (
            create_revision is not None and existing.create_revision != create_revision
        ):
            return
        unchanged = Check(key, create_revision=existing.create_revision, version=existing.version)
        with contextlib.suppress(ConflictError):  # changed between the read and the delete: not ours
            store.commit([unchanged, Delete(key)])

    # The session as it is now: a write cut off while the session was being replaced may have
    # landed on the new one, never on one older than this.
    when_connected(store, store.session.generation, remove, f"the unconfirmed registration {key}")
