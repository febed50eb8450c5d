"""How :mod:`coordkit.config` reads and writes one application's subtree.

Consistent reads: on etcd and memory ``tree()`` is one atomic read. On ZooKeeper it reads
level by level, so a change can land between two levels; every coordkit change therefore
also rewrites the marker key ``<app>/.version`` in the same transaction (a multi, whose
operations share one zxid), and a read counts only when the marker is the same before and
after it (a sequence lock). A multi-key transaction written by another tool without the
marker may be seen in part on ZooKeeper; a single-key write is atomic everywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tenacity import RetryError, Retrying, retry_if_exception_type

from ..backends.base import Delete, Entry, Op, Put
from ..core.retry import QUICK, by_deadline
from ..errors import BackendUnavailableError, OperationTimeoutError
from ..names import join
from .values import MARKER

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["change_ops", "read_subtree"]


class _Torn(Exception):
    """A coordkit change landed while the subtree was being read: read again."""


def _stamp(entry: Entry | None) -> tuple[int, int] | None:
    return None if entry is None else (entry.create_revision, entry.mod_revision)


def _retrying(client: Store, timeout: float | None) -> Retrying:
    return Retrying(
        stop=by_deadline(time.monotonic() + (client.timeout if timeout is None else timeout)),
        wait=QUICK,  # a caller (a construction, a refresh, a write's read-back) waits for this read
        retry=retry_if_exception_type((BackendUnavailableError, _Torn)),
        reraise=False,
    )


def read_subtree(client: Store, root: str, *, timeout: float | None = None) -> tuple[list[Entry], int]:
    """Every entry below ``root`` as one consistent state, and the revision it holds at.

    Retries while no server answers or changes keep tearing the read, within ``timeout``
    (default: the client's). Raises BackendUnavailableError (or OperationTimeoutError when
    changes kept coming) after that, ClosedError if the client is closed.
    """
    client.session.ensure_usable()
    backend = client.backend
    marker = join(root, MARKER)

    def once() -> tuple[list[Entry], int]:
        if client.backend.capabilities.atomic_subtree_reads:
            return backend.tree(root)
        before = backend.get(marker)
        entries, revision = backend.tree(root)
        if _stamp(backend.get(marker)) != _stamp(before):
            raise _Torn()
        return entries, revision

    try:
        return _retrying(client, timeout)(once)
    except RetryError as exc:
        last = exc.last_attempt.exception()
        if isinstance(last, _Torn):
            raise OperationTimeoutError(
                f"the configuration under {root} kept changing while it was read; try again"
            ) from None
        assert isinstance(last, BaseException)
        raise last from None


def marker_value(keys: Iterable[str]) -> bytes:
    """What the marker holds after a change: the keys it touched (for people reading the
    store; readers only compare the marker's revision)."""
    return json.dumps({"keys": sorted(keys)}, ensure_ascii=False).encode("utf-8")


def change_ops(
    root: str,
    puts: Mapping[str, bytes],
    deletes: Iterable[str],
    *,
    versions: Mapping[str, int] | None,
    marker_version: int | None,
    parents: frozenset[str],
    blank_parents: bool,
    absent: frozenset[str] = frozenset(),
) -> list[Op]:
    """The operations of one atomic change of ``root``'s settings.

    ``versions`` (compare-and-set): key -> the stored version each written or deleted key
    must still have (0: must be absent). ``marker_version``: the marker's expected version
    (0: absent; None: any), which makes the change fail if any other coordkit change came
    first. ``blank_parents``: a deleted key that has keys below it is emptied instead of
    deleted (ZooKeeper cannot delete a node with children; an empty value is no setting).
    ``absent``: keys believed not to exist, written as creates (KeyExistsError if that
    belief is wrong): ZooKeeper's commit otherwise learns one new key per round trip.
    """
    ops: list[Op] = []
    for key, data in puts.items():
        expected = None if versions is None else versions.get(key)
        create = expected == 0 or (expected is None and key in absent)
        ops.append(Put(join(root, key), data, version=expected or None, create=create))
    deleted = list(deletes)
    for key in deleted:
        expected = None if versions is None else versions.get(key)
        if blank_parents and key in parents:
            ops.append(Put(join(root, key), b"", version=expected or None))
        elif expected != 0:
            ops.append(Delete(join(root, key), version=expected))
    ops.append(
        Put(
            join(root, MARKER),
            marker_value([*puts, *deleted]),
            version=marker_version or None,
            create=marker_version == 0,
        )
    )
    return ops
