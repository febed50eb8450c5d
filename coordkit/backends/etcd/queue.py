"""Contender queues on etcd (locks, semaphores, elections) in the layout of ``etcdctl lock``
and ``etcdctl elect``: a contender is the key ``<name>/<lease id hex>`` (``-<12 hex>`` more for
semaphores) attached to the session's lease, and the queue is the keys directly under the
name in create-revision order, so etcdctl's contenders and coordkit's meet.

:class:`EtcdContenderQueues` is the part of :class:`~coordkit.backends.etcd.backend.EtcdBackend` that
implements the backend's queue calls over :class:`~.calls.EtcdCalls`.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

from ...errors import SessionLostError
from ...names import join
from ..base import Check, Put
from ..contender_queue import Contender, QueueView
from . import ops as ops_
from .calls import EtcdCalls
from .conn import etcdrpc
from .departures import EtcdDepartures

__all__ = ["EtcdContenderQueues"]


class EtcdContenderQueues(EtcdCalls):
    """The contender-queue calls of the etcd backend: each is one transaction or one read."""

    def __init__(self, endpoints: list[str], namespace: str, *, options: dict[str, Any]) -> None:
        super().__init__(endpoints, namespace, options=options)
        self._attempts: dict[bytes, str] = {}  # contender key -> the join attempt that made it
        self._departures = EtcdDepartures(self._conn)  # one watch stream for every departure wait
        self._join_requests: dict[tuple[str, bytes, int], tuple[Any, bytes, str, int]] = {}

    def _contender_name(self, name: str) -> str:  # at the root a key is kept as spelt ("x" is not "/x")
        return name.removeprefix("/") if self._keys.namespace else name

    def _join_request(
        self, path: str, value: bytes, lease: int, unique: bool, attempt: str | None
    ) -> tuple[Any, bytes, str, int]:
        """The join transaction, its contender's key and name, and the length of the queue's
        key prefix. Without ``unique`` none depends on the attempt: kept per (path, value,
        lease) and sent again as is (gRPC serializes it anew each time; nothing mutates it)."""
        cache = None if unique else (path, value, lease)
        made = self._join_requests.get(cache) if cache is not None else None
        if made is not None:
            return made
        suffix = (attempt or uuid.uuid4().hex)[:12]  # a retried join finds its own key
        key = self._key(join(path, f"{lease:x}-{suffix}" if unique else f"{lease:x}"))
        name = self._contender_name(self._name(key))  # as _contenders will spell it
        prefix, start, end = self._below(path)
        queue = etcdrpc.RequestOp(request_range=ops_.read_by_creation(start, end))
        absent = ops_.conditions(Put(name, value, create=True), key)
        request = etcdrpc.TxnRequest(
            compare=absent, success=[ops_.write(key, value, lease), queue], failure=[queue]
        )
        made = (request, key, name, len(prefix))
        if cache is not None:
            with self._lock:
                self._join_requests[cache] = made
                while len(self._join_requests) > 256:  # bounded: old leases and names go first
                    self._join_requests.pop(next(iter(self._join_requests)))
        return made

    def queue_join(
        self,
        path: str,
        value: bytes,
        *,
        unique: bool = False,
        attempt: str | None = None,
        timeout: float | None = None,
    ) -> QueueView:
        """One transaction, as etcd's ``concurrency.Mutex``: create ``<path>/<lease hex>``
        unless this session already has it, and list the queue by create revision. The
        layout of ``etcdctl lock`` and ``etcdctl elect``, so their contenders and ours meet;
        a retry finds the contender the first attempt made. ``unique`` (semaphores) adds
        ``-<random>``, allowing several contenders per session."""
        lease = self._current_lease()
        request, key, name, prefix = self._join_request(path, value, lease, unique, attempt)
        with self._lock:  # which attempt made each key: only a retry of it may adopt the key
            previous = self._attempts.pop(key, None)
            self._attempts[key] = attempt or ""
            while len(self._attempts) > 1024:
                self._attempts.pop(next(iter(self._attempts)))
        # Sent from here (not through _txn), so that a lock's acquire reaches gRPC in few frames;
        # not retry_safe: a transaction cut off mid-flight may have been applied.
        reply = self._conn.call(
            f"join the queue {path}",
            lambda s, t: s.kv.Txn(request, **s.args(t)),
            retry_safe=False,
            timeout=self._bounded(timeout),
        )
        contenders = self._contenders(path, reply.responses[-1].response_range.kvs, prefix)
        mine = next((c for c in contenders if c.key == name), None)
        if mine is None:  # only if the lease ended between compare and read: it cannot
            raise SessionLostError(f"the contender {name} vanished as it was created")
        if not reply.succeeded and attempt is not None and previous != attempt:
            # A key this session left behind (e.g. one whose removal is still pending after an
            # outage): replace it, so that the new contender gets a new revision (the token)
            # and the pending removal, which compares the old revision, cannot delete it.
            # (One transaction cannot delete and put the same key: two steps.)
            same = ops_.conditions(Check(mine.key, create_revision=mine.create_revision), key)
            self._txn(
                f"replace the stale contender {mine.key}", same, [ops_.remove(key)], [], timeout=timeout
            )
            return self.queue_join(path, value, unique=unique, attempt=attempt, timeout=timeout)
        return QueueView(mine, contenders, reply.header.revision)

    def queue_list(
        self, path: str, *, values: bool = False, timeout: float | None = None
    ) -> tuple[list[Contender], int]:
        """The contenders directly under ``path`` by create revision (one range read;
        keys only unless ``values``)."""
        _, start, end = self._below(path)
        try:
            reply = self._range(
                f"list the queue {path}",
                ops_.read_by_creation(start, end, keys_only=not values),
                self._bounded(timeout),
            )
            return self._contenders(path, reply.kvs), reply.header.revision
        finally:
            self._departures.flush()  # the cancels a departure's wait left for after this read

    def queue_leave(self, mine: Contender, *, timeout: float | None = None) -> None:
        """Delete our contender if it is still the same entry (one transaction; idempotent)."""
        key = self._key(mine.key)
        compare = ops_.conditions(Check(mine.key, create_revision=mine.create_revision or None), key)
        self._txn(f"leave the queue at {mine.key}", compare, [ops_.remove(key)], [], timeout=timeout)

    def queue_update(self, mine: Contender, value: bytes) -> Contender:
        """One transaction comparing the incarnation and the version, then writing on the lease."""
        entry = self.commit(
            [
                Check(mine.key, version=mine.version, create_revision=mine.create_revision),
                Put(mine.key, value, ephemeral=True),
            ]
        )[1]
        assert entry is not None
        return Contender(mine.key, mine.sequence, entry.create_revision, entry.value, entry.version)

    def wait_gone(
        self,
        key: str,
        timeout: float | None,
        wake: threading.Event,
        *,
        create_revision: int = 0,
        since_revision: int = 0,
    ) -> bool:
        """A watch on the one key from ``since_revision + 1`` (0: after one read), on the
        connection's one departure stream (see :mod:`.departures`): the ``<path>/<lease hex>``
        names are reused by a session's next join, so the incarnation (``create_revision``) is
        what tells a departure. False also when the stream broke (the caller re-reads the queue)."""
        return self._departures.wait_gone(self._key(key), create_revision, since_revision, timeout, wake)

    def wait_gone_since(
        self,
        key: str,
        timeout: float | None,
        wake: threading.Event,
        *,
        create_revision: int = 0,
        since_revision: int = 0,
    ) -> bool:
        """:meth:`wait_gone` with the revision (through the attribute: a wrapped ``wait_gone``
        sees every wait)."""
        return self.wait_gone(
            key, timeout, wake, create_revision=create_revision, since_revision=since_revision
        )

    def wait_any_gone(
        self,
        ahead: Sequence[Contender],
        timeout: float | None,
        wake: threading.Event,
        *,
        since_revision: int = 0,
    ) -> set[str]:
        """A watch on each key from ``since_revision + 1`` (0: from now, then the keys read in
        one transaction), all on the one departure stream (see :mod:`.departures`)."""
        names = {self._key(contender.key): contender for contender in ahead}
        incarnations = [(name, contender.create_revision) for name, contender in names.items()]
        gone = self._departures.wait_any_gone(incarnations, since_revision, timeout, wake)
        return {names[name].key for name in gone}

    def _contenders(self, path: str, kvs: Any, prefix: int | None = None) -> list[Contender]:
        if prefix is None:  # the length of the queue's key prefix
            prefix = len(self._keys.prefix_of(path).encode("utf-8"))
        return [
            Contender(
                self._contender_name(self._name(kv.key)),
                kv.create_revision,
                kv.create_revision,
                kv.value,
                kv.version,
            )
            for kv in kvs
            if b"/" not in kv.key[prefix:]
        ]  # direct children only
