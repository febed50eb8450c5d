"""The etcd v3 backend, over python-etcd3 0.12's gRPC stubs.

Layout: a coordkit name is the etcd key exactly as ``etcdctl`` spells it (``mylock`` and
``/mylock`` differ); a namespace ``/ns`` is prepended as ``/ns/<name>`` (see
:mod:`coordkit.names`). No parent keys are implied: ``/a/b`` exists alone.

Sessions are leases: an ephemeral key is a key attached to the session's lease.
``Entry.version``, ``create_revision``, ``mod_revision`` and ``lease`` are etcd's own.

Every write is one round trip: a transaction that compares the op's condition and writes,
asking for the key's previous state, from which the new entry follows (or, when a compare
fails, reads the involved keys so the error can say which condition failed and why).
Every call has a deadline of ``operation_timeout`` seconds and fails over to the next
endpoint (see :mod:`.conn`). The contender queues (locks, elections) are in :mod:`.queue`,
the plumbing both share in :mod:`.calls`.

``children("/")`` without a namespace lists the first segment of every key with any
leading ``/`` dropped: ``/a/b`` and ``a/c`` both give ``a``, although ``/a`` and ``a`` are
different etcd keys. Use ``tree("/")`` to see keys exactly as stored.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ...errors import (
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
    CoordkitError,
    OperationTimeoutError,
    SessionLostError,
    TLSError,
)
from ..base import (
    LEASE_CONTENDER,
    Capabilities,
    ConnectionEvent,
    ConnectionSink,
    Delete,
    Entry,
    Layout,
    Op,
    Put,
    Watch,
    WatchCallback,
)
from . import ops as ops_
from .conn import Stubs, etcdrpc
from .queue import EtcdContenderQueues

if TYPE_CHECKING:
    from ..server_info import ServerInfo
    from .watch import EtcdWatch

__all__ = ["EtcdBackend"]

log = logging.getLogger(__name__)


class EtcdBackend(EtcdContenderQueues):
    """A client of one etcd cluster. ``endpoints`` are ``host:port``; ``namespace`` is ``""``
    or ``/ns``; ``options`` carry ``operation_timeout`` (seconds, default 5) and optionally
    ``security`` (a ``coordkit.core.security.Security``: TLS files, user, password); others are
    ignored."""

    kind = "etcd"
    capabilities = Capabilities(
        atomic_subtree_reads=True, stored_parents=False, layout=Layout.ETCD, contender_names=LEASE_CONTENDER
    )

    def __init__(self, endpoints: list[str], namespace: str, *, options: dict[str, Any]) -> None:
        super().__init__(endpoints, namespace, options=options)
        self._sink: ConnectionSink | None = None
        self._asked_ttl = 0.0
        self._ttl = 0.0
        self._watches: set[EtcdWatch] = set()
        self._reopening = False  # new_session() is granting or revoking: it closes the channel

    def _link_down(self) -> None:
        sink = self._sink
        if sink is not None and not self._closed:
            try:
                sink(ConnectionEvent.DISCONNECTED)
            except Exception:  # the session manager's bug must not kill a watch thread
                log.exception("coordkit connection sink failed")

    # --- session -------------------------------------------------------------------------
    def connect(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Grant the session lease (``ceil(ttl)`` s, at least 1; the server may raise it to
        its minimum). Tries the endpoints in order. Raises BackendUnavailableError naming
        them when none answers within ``timeout``; then there is no session."""
        self._sink = sink
        self._asked_ttl = ttl
        deadline = time.monotonic() + timeout
        try:
            self._lease, self._ttl = self._grant(timeout)
        except BackendUnavailableError as exc:
            self._explain_unreachable(exc, deadline, timeout)

    def connect_without_session(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Reach a server with one read (no lease: a read-only client writes nothing), so that
        an unreachable or misconfigured cluster fails here as :meth:`connect` does."""
        self._sink = sink
        self._asked_ttl = ttl
        deadline = time.monotonic() + timeout
        try:
            self._range("reach the servers", ops_.read(b"\0", keys_only=True), timeout)
        except BackendUnavailableError as exc:
            self._explain_unreachable(exc, deadline, timeout)

    def _explain_unreachable(self, exc: BackendUnavailableError, deadline: float, timeout: float) -> NoReturn:
        """Re-raise ``exc`` (or a clearer error for the same failure): always raises."""
        # The probes are imported by a failure only (as .status and .watch by their calls):
        # a read that reaches the servers at once (a short `coordkit get`) loads none.
        from ...core.tls_probe import diagnose_tls
        from ..reachability import known_failures, summary

        if not isinstance(exc, OperationTimeoutError):  # refused, not slow: TLS may be why
            # gRPC says only "failed to connect" for a failed TLS handshake: ask why.
            tls_problem = diagnose_tls(self._conn.endpoints, self._conn.security, timeout, scheme="etcd")
            if tls_problem:
                raise TLSError(f"cannot open a session on etcd: {tls_problem}") from None
        # gRPC's reasons are long and, for a ZooKeeper port, only "Socket closed": say
        # what each endpoint is when every one is known to be unusable.
        left = deadline - time.monotonic()
        reasons = known_failures(self._conn.endpoints, "etcd", min(1.0, left)) if left > 0 else None
        if reasons is None:
            raise exc
        raise BackendUnavailableError(summary("etcd", reasons)) from exc

    def _grant(self, timeout: float) -> tuple[int, float]:
        request = etcdrpc.LeaseGrantRequest(TTL=max(1, math.ceil(self._asked_ttl)))
        # retry_safe: a lease granted by a call we gave up on expires on its own.
        reply = self._conn.call(
            "open a session (lease grant)",
            lambda s, t: s.lease.LeaseGrant(request, **s.args(t)),
            retry_safe=True,
            timeout=timeout,
        )
        if reply.error:
            raise SessionLostError(f"etcd refused the session lease: {reply.error}")
        return reply.ID, float(reply.TTL)

    @property
    def session_id(self) -> int:
        return self._lease

    @property
    def session_ttl(self) -> float:
        return self._ttl

    def keepalive(self, timeout: float) -> None:
        """One LeaseKeepAlive round trip (a short stream: one request, one reply).
        Raises SessionLostError when the lease is gone (reply TTL <= 0)."""
        lease = self._current_lease()

        def beat(stubs: Stubs, remaining: float) -> Any:
            request = etcdrpc.LeaseKeepAliveRequest(ID=lease)
            stream = stubs.lease.LeaseKeepAlive(iter((request,)), **stubs.args(remaining))
            try:
                return next(stream, None)
            finally:
                stream.cancel()

        reply = self._conn.call("session keepalive", beat, retry_safe=True, timeout=timeout)
        if reply is None or reply.TTL <= 0:
            raise SessionLostError(f"etcd lease {lease:x} has expired or was revoked")

    def new_session(self, timeout: float) -> int:
        """Grant a new lease, then revoke the old one in the time left (best effort: if
        that fails the old lease expires after its TTL). Raises BackendUnavailableError if
        no server grants one; the old session then stays current. A close() meanwhile
        leaves the channel to this call, which revokes what it was granted and raises
        ClosedError: no lease outlives the backend because of the race."""
        deadline = time.monotonic() + timeout
        with self._lock:
            old = self._current_lease()  # ClosedError once closed
            self._reopening = True
        unowned = 0  # a lease granted that close() does not know of
        try:
            unowned, ttl = self._grant(timeout)
            with self._lock:
                if not self._closed:  # from here on close() revokes it
                    self._lease, self._ttl, unowned = unowned, ttl, 0
            self._revoke(old, deadline - time.monotonic())
        finally:
            with self._lock:
                self._reopening = False
                closed = self._closed
            if closed:
                self._end_after_close(unowned)
        if closed:
            raise ClosedError("the etcd backend was closed while a new session was being opened")
        return self._lease

    def _end_after_close(self, lease: int) -> None:
        """The last step of a close() that came during new_session(): revoke the lease that
        close() could not know of (if any), then close the channel close() left open."""
        try:
            if lease:
                self._revoke(lease, self._timeout)
        finally:
            self._conn.close()

    def _revoke(self, lease: int, timeout: float) -> None:
        if timeout <= 0:
            return
        request = etcdrpc.LeaseRevokeRequest(ID=lease)
        try:
            self._conn.call(
                "end the session (lease revoke)",
                lambda s, t: s.lease.LeaseRevoke(request, **s.args(t)),
                retry_safe=True,
                timeout=timeout,
            )
        except SessionLostError:
            pass  # already gone
        except CoordkitError as exc:
            log.info("coordkit: could not revoke etcd lease %x (%s); it expires by its TTL", lease, exc)

    def close(self) -> None:
        """Revoke the lease (ephemeral keys vanish now; waits at most ``operation_timeout``,
        then the lease expires by its TTL), stop every watch without waiting for callbacks
        in flight, and close the channels. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            watches, self._watches = list(self._watches), set()
            lease, reopening = self._lease, self._reopening
        if lease:
            self._revoke(lease, self._timeout)
        for watch in watches:
            watch.stop()
        self._departures.close()
        if not reopening:  # else new_session() revokes what it holds and closes the channel
            self._conn.close()

    def server_info(self, timeout: float) -> ServerInfo:
        """Every endpoint's status, in parallel; see :func:`.status.server_info`."""
        from .status import server_info

        return server_info(self._conn, timeout)

    # --- keys ------------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        reply = self._range(f"get {key}", ops_.read(self._key(key)))
        return self._entry(reply.kvs[0]) if reply.kvs else None

    def put(self, op: Put) -> Entry:
        """One transaction (see :meth:`commit`); raises KeyExistsError / VersionConflictError,
        SessionLostError for an ephemeral put when the lease is gone."""
        entry = self.commit([op])[0]
        assert entry is not None
        return entry

    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        """One transaction deleting the key (and with ``recursive`` the range below it, in
        the same revision); compares the version when given. On a failed compare nothing
        is deleted and VersionConflictError says the key's state."""
        target = self._key(key)
        writes = [ops_.remove(target)]
        if recursive:
            _, start, end = self._below(key)
            writes.append(ops_.remove(start, end))
        check = Delete(key, version)
        compare = ops_.conditions(check, target)
        reply = self._txn(f"delete {key}", compare, writes, [ops_.read_op(target)] if compare else [])
        if not reply.succeeded:
            raise ops_.first_conflict([check], self._found(reply, [check]))
        return any(r.response_delete_range.deleted for r in reply.responses)

    def children(self, path: str) -> list[str]:
        """The next segment of every key below ``path`` (one keys-only range read)."""
        prefix, start, end = self._below(path)
        reply = self._range(f"children of {path}", ops_.read(start, end, keys_only=True))
        found: set[str] = set()
        for kv in reply.kvs:
            rest = kv.key[len(prefix) :].decode("utf-8", "surrogateescape")
            segment = (rest.lstrip("/") if not prefix else rest).split("/", 1)[0]
            if segment:
                found.add(segment)
        return sorted(found)

    def tree(self, path: str) -> tuple[list[Entry], int]:
        """Every entry below ``path`` sorted by key, and the revision of that read."""
        _, start, end = self._below(path)
        reply = self._range(f"tree of {path}", ops_.read(start, end))
        return [self._entry(kv) for kv in reply.kvs], reply.header.revision

    def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        """One transaction: every condition compared; on success the writes, each Put asking
        for the previous state of its key (from which its new entry follows); on failure the
        involved keys read, to raise the ConflictError subclass naming the first failing op.
        Then nothing was written. An op costs at most one compare and one request, which is
        what etcd's --max-txn-ops counts (per list), so MAX_COMMIT_OPS ops always fit."""
        if not ops:
            return []
        compare: list[Any] = []
        success: list[Any] = []
        puts: list[tuple[int, Put, int] | None] = []  # (index in success, op, lease) of each Put
        involved: dict[bytes, None] = {}
        for op in ops:
            key = self._key(op.key)
            conditions = ops_.conditions(op, key)
            compare += conditions
            if conditions:
                involved[key] = None
            if isinstance(op, Put):
                lease = self._current_lease() if op.ephemeral else 0
                puts.append((len(success), op, lease))
                success.append(
                    ops_.write(key, op.value, lease, prev_kv=not op.create, keep_lease=op.keep_owner)
                )
            else:
                if isinstance(op, Delete):
                    success.append(ops_.remove(key))
                puts.append(None)
        reply = self._txn(
            f"commit of {len(ops)} op(s) on {ops[0].key}",
            compare,
            success,
            [ops_.read_op(key) for key in involved],
        )
        if not reply.succeeded:
            raise ops_.first_conflict(ops, self._found(reply, ops))
        revision = reply.header.revision
        return [
            None if put is None else self._written(put, reply.responses[put[0]], revision) for put in puts
        ]

    def _written(self, put: tuple[int, Put, int], response: Any, revision: int) -> Entry:
        _, op, lease = put
        reply = response.response_put
        prev = reply.prev_kv if reply.HasField("prev_kv") else None
        if op.keep_owner and prev is not None:
            lease = prev.lease
        return ops_.written(self._name(self._key(op.key)), op.value, lease, prev, revision)

    def _found(self, reply: Any, ops: Sequence[Op]) -> dict[str, Entry]:
        """The failure branch's reads, by each op's own spelling of its key (inside a
        namespace "a/b" and "/a/b" are one key, read back as "/a/b")."""
        by_key = {kv.key: kv for r in reply.responses for kv in r.response_range.kvs}
        return {op.key: self._entry(by_key[k]) for op in ops if (k := self._key(op.key)) in by_key}

    # --- watches ---------------------------------------------------------------------------
    def watch(
        self,
        key: str,
        callback: WatchCallback,
        *,
        prefix: bool,
        start_revision: int | None = None,
        timeout: float | None = None,
    ) -> Watch:
        """Start a watch on ``key`` (or the keys strictly below it). Without
        ``start_revision`` it starts after one read that fixes "now"; raises coordkit
        errors if that read fails (then nothing runs)."""
        if start_revision is not None and start_revision < 1:
            raise ConfigurationError(f"start_revision must be >= 1, not {start_revision}")
        if prefix:
            _, start, end = self._below(key)
        else:
            start, end = self._key(key), b""
        from .watch import EtcdWatch

        watch = EtcdWatch(
            self._conn,
            start,
            end,
            entry_of=self._entry,
            name_of=self._name,
            callback=callback,
            on_link_down=self._link_down,
            on_cancel=self._forget,
            what=f"watch of {key}{'/*' if prefix else ''}",
        )
        with self._lock:
            if self._closed:
                raise ClosedError("the etcd backend is closed")
            self._watches.add(watch)
        try:
            watch.start(start_revision, self._bounded(timeout))
        except BaseException:
            self._forget(watch)
            raise
        return watch

    def _forget(self, watch: EtcdWatch) -> None:
        with self._lock:
            self._watches.discard(watch)
