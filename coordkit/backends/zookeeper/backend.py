"""The ZooKeeper backend, over kazoo 2.11 (every kazoo import stays in this package's
helpers and here).

Layout: a name is a znode path below the namespace, and the namespace is the client's
chroot (created at connect if missing). Missing parents of a written key are created as
implicit parents (persistent nodes holding ``PARENT_MARK``), in the same transaction as the
key, so they never outlive a failed write. They are not keys (the contract's one model):
``get``, ``tree`` and watches skip them, ``children`` lists them. A delete of a node with
children sets the mark instead (ZooKeeper cannot remove it), pinned to the version read; a
create over an implicit parent sets its value, pinned likewise. The delete of a key removes
the implicit parents left empty above it, each pinned to its version, so never one that
gained a child or a value. Nodes written by other tools (empty or not) are keys.

Known differences that ZooKeeper imposes: a key written over an implicit parent continues
that node's data version (its ``version`` need not start at 1); a versioned write, check
or delete first reads whether the node is a key, so one of an implicit parent fails as of
an absent key (a multi compares versions only); an implicit parent whose last child went
without a coordkit delete (an expired ephemeral key, another tool) stays until a coordkit
delete below it: it reads as absent but ``children`` lists its name. An ephemeral key
cannot have keys below it (ZooKeeper refuses), nor be written over an implicit parent
that has some; it replaces one left empty (deleted and created in one multi).

Mapping of the contract onto ZooKeeper:

* ``version`` is ``stat.version + 1``; ``create_revision``/``mod_revision`` are czxid/mzxid;
  ``lease`` is the ephemeral owner (a session id).
* ``tree()`` reads level by level with pipelined calls; its revision is the largest zxid
  read (czxid, mzxid and every parent's pzxid): each change up to it that touched the
  subtree is reflected. Levels are read one after another, so under concurrent writes the
  result is not one atomic snapshot as on etcd.
* ``Check(create_revision=r)``: a transaction cannot compare czxid, so the key is read first
  and refused unless its czxid is ``r``; the transaction then checks that the node still
  exists (version -1). A delete and re-create between that read and the commit (within one
  round trip) would go unnoticed. Contender nodes are ephemeral-sequential, whose names are
  never reused, so for them "still exists" is exact.
* An ephemeral ``put`` on a key that exists as a persistent key or as another session's
  ephemeral raises KeyExistsError; on our own ephemeral it updates the value. A persistent
  ``put`` on an existing ephemeral key updates its value and leaves it ephemeral.
* A ``Delete`` without version of an absent key (or of an implicit parent) in ``commit`` is
  a no-op, as on etcd.
* Contender queues (locks, elections) use Apache Curator's layout; see :mod:`.queue`.
  The key/value calls are in :mod:`.keys`; this module holds the session and watches.
* ``watch(start_revision=r)``: ZooKeeper keeps no history. The watch delivers the keys whose
  ``mod_revision >= r`` that exist when it starts, then live changes; deletions between
  ``r`` and the start are not seen. See :mod:`.watch` for order and revisions.
* Reads retry once the connection is back, within the operation timeout; writes cut by a
  lost connection raise BackendUnavailableError (the write may or may not have happened).
* After the server expires the session, kazoo opens another by itself. Plain keys keep
  working on it; ephemeral writes and ``keepalive`` raise SessionLostError until
  ``new_session()`` replaces it with a session whose id this backend reports.

Options: ``operation_timeout`` (seconds, default 5) bounds every call; ``close_timeout``
(default 2) bounds ``close()`` and the stop of a replaced client.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING, TypeVar

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from ...core.durations import positive_seconds
from ...core.security import Security
from ...errors import (
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
    SessionLostError,
    TLSError,
)
from ...names import KeyMapper
from ..base import (
    CURATOR_CONTENDER,
    Capabilities,
    ConnectionEvent,
    ConnectionSink,
    Layout,
    Watch,
    WatchCallback,
)
from .acl import default_acl
from .keys import KeyCalls
from .parents import PrunedParents
from .queue import QueueJoin
from .read import wait
from .session import ensure_chroot, new_client, stop_bounded

if TYPE_CHECKING:
    from ..server_info import ServerInfo
    from .watch import ZkWatch

__all__ = ["ZooKeeperBackend"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class ZooKeeperBackend(KeyCalls):
    """A coordkit backend on a ZooKeeper ensemble (one kazoo client per session)."""

    kind = "zookeeper"
    capabilities = Capabilities(
        atomic_subtree_reads=False,
        stored_parents=True,
        layout=Layout.CURATOR,
        contender_names=CURATOR_CONTENDER,
    )

    def __init__(self, endpoints: list[str], namespace: str, *, options: dict[str, object]) -> None:
        if not endpoints:
            raise ConfigurationError("no ZooKeeper endpoint given; use zk://host:2181")
        self._endpoints = [str(e) for e in endpoints]
        self._zk_joins: dict[str, QueueJoin] = {}  # see ContenderQueues
        self._zk_own: dict[tuple[int, str], QueueJoin] = {}
        self._joins_lock = threading.Lock()  # both maps, used by callers' and the loop's threads
        ns = (namespace or "").strip().rstrip("/")
        self._namespace = ns if not ns or ns.startswith("/") else "/" + ns
        self._op_timeout = positive_seconds(options.get("operation_timeout", 5.0), "option operation_timeout")
        self._close_timeout = positive_seconds(
            options.get("close_timeout", 2.0), "option close_timeout"
        )  # bound on close()
        self._keys = KeyMapper("path")  # kazoo's chroot adds the namespace
        self._pruned = PrunedParents()
        # One persistent recursive watch per watch (ZooKeeper 3.6+); False forces one-shot
        # watches, and a server without addWatch turns it False at the first watch.
        self._persistent = options.get("persistent_watches", True) is not False
        security = options.get("security")
        self._security = security if isinstance(security, Security) else Security()
        default_acl(self._security)  # a bad acl= fails here, before any connection
        self._lock = threading.RLock()  # serializes connect / new_session / close
        self._client: KazooClient | None = None
        self._sink: ConnectionSink | None = None
        self._asked_ttl = 10.0
        self._sid = 0
        self._ttl = 0.0
        self._lost = False  # the session expired and new_session() has not replaced it yet
        self._suspended = False
        self._closed = False
        self._connected = threading.Event()  # kazoo's link is up
        self._installed = threading.Event()  # a client is in place (clear while new_session swaps)
        self._watches: set[ZkWatch] = set()
        # Guards _watches alone: new_session holds _lock while it connects, and a watch
        # started meanwhile must not wait for that on top of its own deadline.
        self._watch_lock = threading.Lock()

    # --- session -----------------------------------------------------------------
    def canonical(self, name: str) -> str:
        return self._keys.to_key(name)

    def connect(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Start the first session and create the namespace if missing. On failure no client
        is left running and connect() may be called again."""
        with self._lock:
            if self._closed:
                raise ClosedError("the ZooKeeper backend is closed")
            if self._client is not None:
                raise ConfigurationError("connect() was already called on this backend")
            self._sink, self._asked_ttl = sink, ttl
            client = self._start_session(timeout, diagnose=True)
            try:
                self._ensure_namespace(client, timeout)
            except BaseException:
                self._client = None
                stop_bounded(client, self._close_timeout)  # a session was opened: close it
                raise

    def _start_session(self, timeout: float, *, diagnose: bool = False) -> KazooClient:
        """Start a client and wait for its session. With ``diagnose`` (the first connect), an
        attempt not done at once probes the endpoints, and fails at once with their reasons
        if none can ever answer (see :mod:`..reachability`); kazoo only retries them in silence. A
        failed TLS handshake (kazoo retries those silently too) is told by a TLS probe first."""
        client, negotiated = new_client(
            ",".join(self._endpoints) + self._namespace, self._asked_ttl, self._security
        )
        client.add_listener(functools.partial(self._on_state, client))
        self._suspended = False
        self._client = client  # before start, so that the listener accepts its events
        cid, tls_problem = None, None
        deadline = time.monotonic() + timeout
        try:
            with self._errors():
                started = client.start_async()
                if diagnose and not started.wait(min(0.1, timeout / 10)):
                    # Imported only now (as .watch and .status are, by their calls): a
                    # session that opens at once (a short `coordkit get`) loads no probe.
                    from ...core.tls_probe import diagnose_tls
                    from ..reachability import known_failures, summary

                    tls_problem = diagnose_tls(self._endpoints, self._security, timeout)
                    # The plaintext probe cannot judge a TLS port: it would call it "not ZooKeeper".
                    plain = not tls_problem and self._security.tls is None
                    reasons = (
                        known_failures(self._endpoints, "zookeeper", min(1.0, timeout / 4)) if plain else None
                    )
                    if reasons is not None:
                        raise BackendUnavailableError(summary("ZooKeeper", reasons))
                if not tls_problem and started.wait(max(0.0, deadline - time.monotonic())):
                    cid = client.client_id
        finally:
            if cid is None:  # no session to close: let the stop finish in the background
                self._client = None
                stop_bounded(client, 0.0)
        if tls_problem:
            raise TLSError(tls_problem)
        if cid is None:
            raise BackendUnavailableError(
                f"no ZooKeeper server at {self._where} answered within {timeout:g}s"
            )
        self._sid, self._ttl = cid[0], negotiated.timeout or self._asked_ttl
        self._lost = False
        self._connected.set()
        self._installed.set()
        return client

    def _ensure_namespace(self, client: KazooClient, timeout: float) -> None:
        if self._security.sasl is not None:  # the server answers SASL after the handshake
            with self._errors("/", timeout=timeout):
                wait(client.exists_async("/"), time.monotonic() + timeout)
        if not self._namespace:
            return
        with self._errors(self._namespace, write=True, timeout=timeout):
            if not ensure_chroot(
                client,
                self._endpoints,
                self._namespace,
                self._asked_ttl,
                time.monotonic() + timeout,
                self._close_timeout,
                self._security,
            ):
                raise BackendUnavailableError(f"no ZooKeeper server at {self._where} answered")

    def _on_state(self, client: KazooClient, state: str) -> None:
        # Runs on kazoo's connection thread: update flags and call the sink, never block.
        current = self._client
        if current is None or client is not current or self._closed:
            return  # a replaced client's last words
        if state == KazooState.SUSPENDED:
            self._connected.clear()
            if not self._lost:
                self._suspended = True
                self._emit(ConnectionEvent.DISCONNECTED)
        elif state == KazooState.CONNECTED:
            self._connected.set()
            cid = current.client_id
            if self._suspended and not self._lost and cid is not None and cid[0] == self._sid:
                self._suspended = False
                self._emit(ConnectionEvent.RECONNECTED)
                with self._watch_lock:
                    watches = list(self._watches)
                for watch in watches:  # kazoo dropped their watches with the link
                    watch.resync_soon()
        elif state == KazooState.LOST:
            # kazoo then opens a new session by itself: fine for plain keys, but _lost keeps
            # ephemeral keys off it until new_session() replaces it with one of ours.
            self._connected.clear()
            if not self._lost:
                self._lost = True
                self._emit(ConnectionEvent.EXPIRED)

    def _emit(self, event: ConnectionEvent) -> None:
        sink = self._sink
        if sink is not None:
            try:
                sink(event)
            except Exception:  # the session manager's bug must not kill kazoo's thread
                log.exception("coordkit connection sink failed on %s", event)

    @property
    def session_id(self) -> int:
        return self._sid

    @property
    def session_ttl(self) -> float:
        return self._ttl

    def keepalive(self, timeout: float) -> None:
        """One ``exists`` round trip; SessionLostError once kazoo has seen the session expire."""
        client = self._usable(session=True)
        with self._errors(session=True, timeout=timeout):
            client.exists_async("/").get(timeout=timeout)
        cid = client.client_id
        if self._lost or (cid is not None and cid[0] != self._sid):
            raise SessionLostError(f"ZooKeeper session {self._sid:#x} expired")

    def new_session(self, timeout: float) -> int:
        """Close the old client (bounded; its ephemeral nodes go now if a server hears the
        close, else at expiry), start a new one, resync the watches. On failure there is
        no session: ephemeral writes raise SessionLostError until a later call succeeds."""
        with self._lock:
            if self._closed:
                raise ClosedError("the ZooKeeper backend is closed")
            old, self._client = self._client, None
            self._lost = True  # no ephemeral key may land on the old session meanwhile
            self._connected.clear()
            self._installed.clear()
            if old is not None:
                # Long enough for a server that answers to end it (so its ephemeral keys are
                # gone before new ones appear), not for one that does not.
                stop_bounded(old, min(self._close_timeout, timeout / 2))
            self._start_session(timeout)
            with self._watch_lock:
                watches = list(self._watches)
        for watch in watches:
            watch.resync_soon()
        return self._sid

    def close(self) -> None:
        """Stop the watches and end the session, waiting ``close_timeout`` at most for each;
        an unreachable server expires the session after its TTL instead."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._installed.set()  # wakes operations waiting for a client: they see _closed
            client, self._client = self._client, None
            with self._watch_lock:
                watches, self._watches = list(self._watches), set()
        for watch in watches:
            watch.stop_soon()
        if client is not None:
            stop_bounded(client, self._close_timeout)
        for watch in watches:
            watch.join(self._close_timeout)

    def server_info(self, timeout: float) -> ServerInfo:
        """Each endpoint's ``srvr``; see :func:`.status.server_info`."""
        from .status import server_info

        session = (
            f"{self._sid:#x}, ttl {self._ttl:g}s" if self._client is not None and not self._closed else ""
        )
        return server_info(
            self._endpoints, timeout, self._security, session=session, namespace=self._namespace
        )

    # --- watches ---------------------------------------------------------------
    def watch(
        self,
        key: str,
        callback: WatchCallback,
        *,
        prefix: bool,
        start_revision: int | None = None,
        timeout: float | None = None,
    ) -> Watch:
        """Read the key or subtree (arming its watch) before returning; raises what
        that read raises, and then nothing runs. See :mod:`.watch`."""
        path = self._keys.to_key(key)
        if path == "/" and not prefix:
            raise ConfigurationError("the root is not a key: watch it with prefix=True")
        limit = self._op_timeout if timeout is None else min(self._op_timeout, timeout)
        deadline = time.monotonic() + limit  # one deadline for all of the start
        client = self._usable(deadline=deadline)
        from .watch import ZkWatch

        watch = ZkWatch(
            path=path,
            prefix=prefix,
            callback=callback,
            client_for=self._usable,
            timeout=self._op_timeout,
            chrooted=bool(self._namespace),
            on_cancel=self._forget,
            persistent=self._persistent,
            on_unsupported=self._no_persistent,
        )
        with self._watch_lock:  # registered first: a reconnect during the first read must resync it
            if self._closed:
                raise ClosedError("the ZooKeeper backend is closed")
            self._watches.add(watch)
        try:
            with self._errors(key, timeout=limit):
                watch.start(start_revision, deadline, client)
        except BaseException:
            self._forget(watch)
            raise
        return watch

    def _no_persistent(self) -> None:
        self._persistent = False

    def _forget(self, watch: ZkWatch) -> None:
        with self._watch_lock:
            self._watches.discard(watch)
