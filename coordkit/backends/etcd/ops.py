"""etcd request builders for the backend's transactions, and the diagnosis of a failed one.

python-etcd3's ``transaction()`` cannot compare on ``create_revision`` > 0, nor read back
with options, so the etcd backend builds ``etcdrpc`` messages itself with these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import ConflictError, KeyExistsError, VersionConflictError
from ..base import Check, Delete, Entry, Op, Put
from .conn import etcdrpc

__all__ = [
    "conditions",
    "first_conflict",
    "prefix_range",
    "read",
    "read_by_creation",
    "read_op",
    "remove",
    "write",
    "written",
]

_Compare: Any = etcdrpc.Compare


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """``(key, range_end)`` covering every key that starts with ``prefix``.

    The empty prefix is etcd's "every key" (``\\0`` to ``\\0``), used for the root of an
    un-namespaced store.
    """
    if not prefix:
        return b"\0", b"\0"
    end = bytearray(prefix.rstrip(b"\xff"))
    if not end:  # only 0xff bytes: nothing sorts after them but the end of the keyspace
        return prefix, b"\0"
    end[-1] += 1
    return prefix, bytes(end)


def read(key: bytes, range_end: bytes = b"", *, keys_only: bool = False, revision: int = 0) -> Any:
    """A RangeRequest (one key, or ``[key, range_end)``), sorted by key as etcd returns it."""
    return etcdrpc.RangeRequest(key=key, range_end=range_end, keys_only=keys_only, revision=revision)


def read_by_creation(key: bytes, range_end: bytes, *, keys_only: bool = False) -> Any:
    """A RangeRequest sorted by create revision, oldest first: a contender queue in order."""
    return etcdrpc.RangeRequest(
        key=key,
        range_end=range_end,
        keys_only=keys_only,
        sort_order=etcdrpc.RangeRequest.ASCEND,
        sort_target=etcdrpc.RangeRequest.CREATE,
    )


def write(
    key: bytes, value: bytes, lease: int = 0, *, prev_kv: bool = False, keep_lease: bool = False
) -> Any:
    """A put; with ``prev_kv`` its response carries the key's previous state, from which the
    new entry follows (see :func:`written`) without a read costing one more txn operation.
    ``keep_lease``: the key stays on the lease it has (etcd fails the put if it is absent)."""
    put = etcdrpc.PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv, ignore_lease=keep_lease)
    return etcdrpc.RequestOp(request_put=put)


def written(name: str, value: bytes, lease: int, prev: Any, revision: int) -> Entry:
    """The entry a put with ``prev_kv`` made at ``revision``: a new key (no previous state)
    starts at version 1 created at ``revision``; an existing one keeps its create revision."""
    if prev is None or not prev.create_revision:
        return Entry(name, bytes(value), 1, revision, revision, lease)
    return Entry(name, bytes(value), prev.version + 1, prev.create_revision, revision, lease)


def remove(key: bytes, range_end: bytes = b"") -> Any:
    return etcdrpc.RequestOp(request_delete_range=etcdrpc.DeleteRangeRequest(key=key, range_end=range_end))


def read_op(key: bytes) -> Any:
    return etcdrpc.RequestOp(request_range=read(key))


def conditions(op: Op, key: bytes) -> list[Any]:
    """The etcd compares expressing ``op``'s condition (none for an unconditional write).

    An absent key has version 0 and create_revision 0 in an etcd compare, so "exists" is
    ``create_revision > 0`` and "absent" is ``create_revision == 0``.
    """
    found: list[Any] = []
    if isinstance(op, Check):
        if op.version is None and op.create_revision is None:
            found.append(
                _Compare(key=key, target=_Compare.CREATE, result=_Compare.GREATER, create_revision=0)
            )
        if op.create_revision is not None:
            found.append(
                _Compare(
                    key=key, target=_Compare.CREATE, result=_Compare.EQUAL, create_revision=op.create_revision
                )
            )
    if isinstance(op, Put) and op.create:
        found.append(_Compare(key=key, target=_Compare.CREATE, result=_Compare.EQUAL, create_revision=0))
    if op.version is not None:
        found.append(_Compare(key=key, target=_Compare.VERSION, result=_Compare.EQUAL, version=op.version))
    return found


def _have(entry: Entry | None) -> str:
    return "absent" if entry is None else f"at version {entry.version}"


def first_conflict(ops: Sequence[Op], current: Mapping[str, Entry]) -> ConflictError:
    """The error naming the first op whose condition ``current`` (the failure branch's reads,
    taken atomically with the compares) does not meet."""
    for op in ops:
        now = current.get(op.key)
        if isinstance(op, Check):
            if now is None:
                return VersionConflictError(f"{op.key} does not exist")
            if op.version is not None and now.version != op.version:
                return VersionConflictError(f"{op.key} is at version {now.version}, not {op.version}")
            if op.create_revision is not None and now.create_revision != op.create_revision:
                return VersionConflictError(
                    f"{op.key} was re-created (create revision {now.create_revision}, "
                    f"not {op.create_revision})"
                )
        elif isinstance(op, Put) and op.create and now is not None:
            return KeyExistsError(f"{op.key} already exists (version {now.version})")
        elif (
            isinstance(op, (Put, Delete))
            and op.version is not None
            and (now is None or now.version != op.version)
        ):
            return VersionConflictError(f"{op.key} is {_have(now)}, not at version {op.version}")
    return ConflictError("a condition of the commit failed: " + ", ".join(op.key for op in ops))
