"""What every part of the etcd backend shares: the mapping of names to etcd keys, one range
read, one transaction, a caller's time bound and the session's lease.

:class:`EtcdCalls` holds the connection and that state; the contender queues
(:mod:`.queue`) and the key/value and session calls (:mod:`.backend`) stand on it.
"""

from __future__ import annotations

import threading
from typing import Any

from ...core.durations import positive_seconds
from ...errors import ClosedError, SessionLostError
from ...names import KeyMapper
from ..base import Backend, Entry
from . import ops as ops_
from .conn import EtcdConnection, etcdrpc

__all__ = ["EtcdCalls"]


class EtcdCalls(Backend):
    """The connection to one etcd cluster and the calls made over it. ``options`` carry
    ``operation_timeout`` (seconds, default 5) and what :class:`.conn.EtcdConnection` reads."""

    def __init__(self, endpoints: list[str], namespace: str, *, options: dict[str, Any]) -> None:
        self._keys = KeyMapper("etcd", namespace)
        self._timeout = positive_seconds(
            options.get("operation_timeout", 5.0), "etcd option operation_timeout"
        )
        self._conn = EtcdConnection(endpoints, self._timeout, options)
        self._lock = threading.Lock()
        self._lease = 0
        self._closed = False

    # --- names <-> keys ----------------------------------------------------------------
    def canonical(self, name: str) -> str:
        return self._keys.to_key(name)

    def _key(self, name: str) -> bytes:
        return self._keys.to_key(name).encode("utf-8")

    def _name(self, key: bytes) -> str:
        # Keys written by other tools need not be UTF-8: keep their bytes recoverable.
        return self._keys.to_name(key.decode("utf-8", "surrogateescape"))

    def _entry(self, kv: Any) -> Entry:
        return Entry(self._name(kv.key), kv.value, kv.version, kv.create_revision, kv.mod_revision, kv.lease)

    def _below(self, path: str) -> tuple[bytes, bytes, bytes]:
        """``(prefix, key, range_end)`` of the keys strictly below ``path``."""
        prefix = self._keys.prefix_of(path).encode("utf-8")
        return (prefix, *ops_.prefix_range(prefix))

    # --- plumbing ------------------------------------------------------------------------
    def _range(self, what: str, request: Any, timeout: float | None = None) -> Any:
        return self._conn.call(
            what, lambda s, t: s.kv.Range(request, **s.args(t)), retry_safe=True, timeout=timeout
        )

    def _txn(
        self,
        what: str,
        compare: list[Any],
        success: list[Any],
        failure: list[Any],
        *,
        timeout: float | None = None,
    ) -> Any:
        request = etcdrpc.TxnRequest(compare=compare, success=success, failure=failure)
        # Not retry_safe: a transaction cut off mid-flight may have been applied.
        return self._conn.call(
            what,
            lambda s, t: s.kv.Txn(request, **s.args(t)),
            retry_safe=False,
            timeout=self._bounded(timeout),
        )

    def _bounded(self, timeout: float | None) -> float | None:
        """A caller's time limit, never longer than the operation timeout (None: that one)."""
        return None if timeout is None else min(self._timeout, timeout)

    def _current_lease(self) -> int:
        if self._closed:
            raise ClosedError("the etcd backend is closed")
        if not self._lease:
            raise SessionLostError("the etcd backend has no session: connect() first")
        return self._lease
