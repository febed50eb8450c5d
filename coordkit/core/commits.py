"""A commit's ops checked at the edge, before anything is sent: their types, names, versions and
values, each key written once, and a size that one transaction holds on every backend (the
limits and the server settings behind them are in :mod:`coordkit.names`)."""

from __future__ import annotations

from dataclasses import replace

from ..backends.base import Check, Delete, Op, Put
from ..errors import CommitTooLargeError, ConfigurationError
from ..names import MAX_COMMIT_OPS, MAX_VALUE_BYTES, validate_name, validate_value, validate_version

__all__ = ["checked_ops"]


def checked_ops(ops: object, namespace: str = "") -> list[Op]:
    """Validate a commit's ops at the edge: types, names, versions, values, total size."""
    if not isinstance(ops, (list, tuple)) or not ops:
        raise ConfigurationError("commit() takes a non-empty list of Check, Put and Delete ops")
    checked: list[Op] = []
    for op in ops:
        if not isinstance(op, (Check, Put, Delete)):
            raise ConfigurationError(f"commit() takes Check, Put and Delete ops, not {op!r}")
        validate_name(op.key, "key")
        validate_version(op.version)
        if isinstance(op, Put) and op.create and op.version is not None:
            raise ConfigurationError(f"Put({op.key!r}) takes create=True or version=N, not both")
        if isinstance(op, Put) and op.keep_owner and (op.version is None or op.ephemeral):
            raise ConfigurationError(f"Put({op.key!r}, keep_owner=True) takes version=N and not ephemeral")
        if isinstance(op, Check) and op.create_revision is not None:
            validate_version(op.create_revision, "create_revision")
        checked.append(replace(op, value=validate_value(op.value)) if isinstance(op, Put) else op)
    keys = [op.key for op in checked if not isinstance(op, Check)]
    if len(set(keys)) != len(keys):
        raise ConfigurationError("a commit may write each key once; merge the ops on the same key")
    _check_commit_size(checked, namespace)
    return checked


def _commit_size(op: Op) -> int:
    """What ``op`` counts against MAX_COMMIT_OPS: one, or two for a Check on both version and
    create_revision (two compares in an etcd transaction)."""
    return 2 if isinstance(op, Check) and op.version is not None and op.create_revision is not None else 1


def _commit_bytes(op: Op, namespace: str) -> int:
    """What ``op`` counts against MAX_VALUE_BYTES: its value, its key as sent (with the
    namespace) and a few bytes of framing; three times the key for a conditional op, which
    etcd repeats in a compare and in the read that explains a failed one."""
    key = len(namespace.encode()) + len(op.key.encode("utf-8", "surrogateescape")) + _OP_FRAMING
    conditional = isinstance(op, Check) or op.version is not None or (isinstance(op, Put) and op.create)
    return (len(op.value) if isinstance(op, Put) else 0) + key * (3 if conditional else 1)


_OP_FRAMING = 64  # an op's own header, version and ACL (ZooKeeper) or protobuf fields (etcd)


def _check_commit_size(ops: list[Op], namespace: str) -> None:
    """Refuse, before anything is sent, a commit that one transaction cannot hold on every
    backend: over MAX_COMMIT_OPS ops (etcd's --max-txn-ops) or MAX_VALUE_BYTES of values and
    keys (ZooKeeper's jute.maxbuffer bounds a whole multi, past which it drops the link)."""
    count = sum(_commit_size(op) for op in ops)
    if count > MAX_COMMIT_OPS:
        raise CommitTooLargeError(
            f"a commit holds at most {MAX_COMMIT_OPS} ops on every backend (etcd's default "
            f"--max-txn-ops), not {count}; split it into several commits"
        )
    total = sum(_commit_bytes(op, namespace) for op in ops)
    if total > MAX_VALUE_BYTES:
        raise CommitTooLargeError(
            f"a commit writes at most {MAX_VALUE_BYTES} bytes of values and keys on every backend "
            f"(ZooKeeper's jute.maxbuffer, 1 MiB, bounds one multi), not {total}; split it into "
            "several commits"
        )
