"""The core of a client: one store's key/value surface, its session and its watches.

A :class:`Store` owns one backend connection and one :class:`~coordkit.core.session.Session`;
every ephemeral key, lock, leadership and registration made through it belongs to that
session. It knows no feature: recipes, discovery, balancing and configuration are built over a
store (``coordkit.Client`` adds their factory methods). Close it (or leave its ``with`` block)
to end the session at once.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..backends import probe as probes
from ..backends.base import Backend, Check, Entry, Op, Put, WatchEvent
from ..errors import BackendUnavailableError, ConfigurationError, ConflictError, OwnershipError
from ..names import validate_name, validate_path, validate_value, validate_version
from .commits import checked_ops
from .schemes import open_backend
from .session import Session, SessionListener, SessionState
from .sessionless import SessionlessSession, session_required
from .url import Target
from .watch import WatchHandle

if TYPE_CHECKING:
    from tenacity import Retrying

    from ..backends.server_info import ServerInfo

__all__ = ["Fence", "Store", "Value"]


class Fence(Protocol):
    """Anything that can guard a write: a held Lock, Semaphore slot or leadership."""

    def fence_check(self) -> tuple[str, int]: ...


T = TypeVar("T")
S = TypeVar("S", bound="Store")
Value = bytes | bytearray | str


class Store:
    """A connection to one coordination store: keys, watches and the session they belong to."""

    def __init__(
        self, target: Target, backend: Backend, session: Session, retry: Retrying | None = None
    ) -> None:
        self._target = target
        self._backend = backend
        self._session = session
        self._retry = retry  # None: the default policy, see _retried_on_unavailable
        self._guards: dict[str, threading.Lock] = {}
        self._guards_lock = threading.Lock()
        self._handles: weakref.WeakSet[WatchHandle] = weakref.WeakSet()  # ended by close()
        self._handles_lock = threading.Lock()

    @classmethod
    def open(cls: type[S], target: Target, retry: Retrying | None = None, *, session: bool = True) -> S:
        """A store of ``target`` (see :func:`coordkit.connect`), its session open (without
        ``session``, read-only: see :mod:`.sessionless`).

        Waits up to ``target.connect_timeout`` for the first session. Raises
        BackendUnavailableError (naming the endpoints) if no server answers, AuthenticationError
        or TLSError for refused credentials; nothing is left open when it raises.
        """
        backend = open_backend(
            target.kind, target.endpoints, target.namespace, timeout=target.timeout, security=target.security
        )
        kind = Session if session else SessionlessSession
        opened = kind(backend, ttl=target.ttl, timeout=target.connect_timeout, margin=target.margin)
        try:
            opened.open()
        except BaseException:
            backend.close()
            raise
        return cls(target, backend, opened, retry)

    @property
    def has_session(self) -> bool:
        """False for a read-only client (``connect(..., session=False)``)."""
        return not isinstance(self._session, SessionlessSession)

    def require_session(self, what: str) -> None:
        """Raise ConfigurationError (nothing sent) if this client has no session for ``what``."""
        if not self.has_session:
            raise session_required(what)

    def local_guard(self, name: str) -> threading.Lock:
        """The one in-process lock of recipe name ``name`` (however it is spelled), for recipes.

        etcd's layout gives a session one contender per key, so two handles of one store
        (whatever the recipe) must take turns locally before they queue in the store. Raises
        InvalidNameError for a bad name.
        """
        key = self._backend.canonical(validate_name(name, "name"))
        with self._guards_lock:
            return self._guards.setdefault(key, threading.Lock())

    # --- the store itself ------------------------------------------------------------
    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the session (its ephemeral keys vanish at once) and release resources.
        Idempotent; bounded in time even when the servers are unreachable. The client's
        watches end too: no callback starts after this returns, iteration stops."""
        self._session.close()  # CLOSED from its start: a watch() started meanwhile ends itself
        with self._handles_lock:
            handles = list(self._handles)
        for handle in handles:
            handle.end()

    def __repr__(self) -> str:
        return f"<coordkit.{type(self).__name__} {self._target.url} {self._session.state.value}>"

    @property
    def url(self) -> str:
        return self._target.url

    @property
    def kind(self) -> str:
        """``"zookeeper"``, ``"etcd"`` or ``"memory"``."""
        return self._target.kind

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._target.endpoints

    @property
    def namespace(self) -> str:
        return self._target.namespace

    @property
    def timeout(self) -> float:
        return self._target.timeout

    @property
    def session(self) -> Session:
        """The session: state, listeners, generation."""
        return self._session

    @property
    def backend(self) -> Backend:
        """The backend (for recipes and fault injection; not needed by applications)."""
        return self._backend

    def add_listener(self, listener: SessionListener) -> None:
        """Shorthand for ``client.session.add_listener``."""
        self._session.add_listener(listener)

    def remove_listener(self, listener: SessionListener) -> None:
        self._session.remove_listener(listener)

    def _call(self, fn: Callable[[], T], *, idempotent: bool, op: str) -> T:
        self._session.ensure_usable()
        probe = probes.active
        if probe is None:
            return self._retried(fn) if idempotent else fn()
        started = time.time_ns()  # one span per call, retries inside it (what the caller waited)
        try:
            result = self._retried(fn) if idempotent else fn()
        except BaseException as exc:
            probe.operation(self._target.kind, op, started, exc)
            raise
        probe.operation(self._target.kind, op, started, None)
        return result

    def _retried(self, fn: Callable[[], T]) -> T:
        if self._retry is not None:
            return self._retry(fn)
        return _retried_on_unavailable(fn, self._target.timeout)

    # --- keys ------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        """The :class:`~coordkit.Entry` at ``key`` (value, version, revisions), or None."""
        key = validate_name(key, "key")
        return self._call(lambda: self._backend.get(key), idempotent=True, op="get")

    def get_text(self, key: str, default: str | None = None) -> str | None:
        """The value at ``key`` decoded as UTF-8, or ``default`` if there is none."""
        entry = self.get(key)
        return default if entry is None else entry.text

    def put(
        self,
        key: str,
        value: Value,
        *,
        ephemeral: bool = False,
        version: int | None = None,
        create: bool = False,
        fence: Fence | None = None,
    ) -> Entry:
        """Write ``value`` (bytes, or str as UTF-8) at ``key`` and return the new entry.

        ``ephemeral``: the key belongs to the session and vanishes with it.
        ``create``: only if absent (KeyExistsError otherwise).
        ``version``: only if the key is at that version (VersionConflictError otherwise).
        On ZooKeeper missing parents are created as implicit parents (no keys). A plain put is retried on
        BackendUnavailableError (writing the same value twice is harmless but counts twice
        in ``version``); a conditional put is not retried, and its BackendUnavailableError
        means it may or may not have happened.

        ``fence``: a held lock, semaphore or election; the write commits only if it is still
        held (one transaction with a check on the holder's contender key), else
        OwnershipError and nothing is written. A stale holder cannot write; when the store
        says the contender is gone, the holding has ended there and then (``lost`` is set).
        """
        if create and version is not None:
            raise ConfigurationError("put() takes create=True or version=N, not both")
        op = Put(
            validate_name(key, "key"), validate_value(value), validate_version(version), create, ephemeral
        )
        if ephemeral:
            self.require_session("an ephemeral put")
        if fence is not None:
            return self._fenced_put(op, fence)
        plain = version is None and not create
        return self._call(lambda: self._backend.put(op), idempotent=plain, op="put")

    def _fenced_put(self, op: Put, fence: Fence) -> Entry:
        fence_key, token = fence.fence_check()
        try:
            result = self._call(
                lambda: self._backend.commit([Check(fence_key, create_revision=token), op]),
                idempotent=False,
                op="fenced_put",
            )
        except ConflictError:
            holder = self._call(lambda: self._backend.get(fence_key), idempotent=True, op="get")
            if holder is None or holder.create_revision != token:
                # The store has proved the holding over (e.g. its lease revoked by a server
                # while the session still looked alive): the holder must stop believing now,
                # not at its next heartbeat. Optional, so that users' own fences still fit.
                refused = getattr(fence, "fence_refused", None)
                if callable(refused):
                    refused(token)
                raise OwnershipError(
                    f"write to {op.key} refused: the fence {fence_key} (token {token}) is no longer held"
                ) from None
            raise
        entry = result[1]
        assert entry is not None
        return entry

    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        """Delete ``key`` (with ``recursive``, also every key below it).

        Returns False if nothing was there. ``version``: only if at that version
        (VersionConflictError otherwise). Without ``recursive`` the keys below ``key``
        stay, on every backend (a name with keys below is not itself a key).
        """
        key = validate_name(key, "key")
        validate_version(version)
        if version is not None and recursive:
            raise ConfigurationError("delete() takes version or recursive, not both")
        return self._call(
            lambda: self._backend.delete(key, version=version, recursive=recursive),
            idempotent=version is None,
            op="delete",
        )

    def children(self, path: str = "/") -> list[str]:
        """Sorted names of the immediate children of ``path``."""
        path = validate_path(path)
        return self._call(lambda: self._backend.children(path), idempotent=True, op="children")

    def tree(self, path: str = "/") -> list[Entry]:
        """Every entry strictly below ``path``, sorted by key, as one consistent read."""
        path = validate_path(path)
        return self._call(lambda: self._backend.tree(path), idempotent=True, op="tree")[0]

    def snapshot(self, path: str = "/") -> tuple[list[Entry], int]:
        """Like :meth:`tree`, with the revision the read holds at: a watch started before
        the read can drop every event at or below it (etcd, memory: exact)."""
        path = validate_path(path)
        return self._call(lambda: self._backend.tree(path), idempotent=True, op="tree")

    def commit(self, ops: list[Op]) -> list[Entry | None]:
        """Apply ``ops`` (:class:`~coordkit.Check`, :class:`~coordkit.Put`,
        :class:`~coordkit.Delete`) atomically: all or nothing. Not retried.

        At most ``coordkit.names.MAX_COMMIT_OPS`` (128) ops and 1 MiB of values, on every
        backend: a larger commit raises CommitTooLargeError before anything is sent.
        """
        checked = checked_ops(ops, self._target.namespace)
        if any(isinstance(op, Put) and op.ephemeral for op in checked):
            self.require_session("a commit with an ephemeral put")
        return self._call(lambda: self._backend.commit(checked), idempotent=False, op="commit")

    def watch(
        self,
        key_or_path: str,
        callback: Callable[[WatchEvent], None] | None = None,
        *,
        recursive: bool = False,
        start_revision: int | None = None,
    ) -> WatchHandle:
        """Watch one key, or with ``recursive`` every key strictly below a path.

        Events arrive in store order, each once, and the watch survives reconnects and
        new sessions. When this returns the watch is in place: every later change is
        delivered (a read that fixes "now" is done first; it raises BackendUnavailableError if
        no server answers). With ``callback``, it is called on the watch's own thread; without,
        iterate over the returned handle. Cancel the handle (or use ``with``) to stop.
        """
        key = validate_path(key_or_path) if recursive else validate_name(key_or_path, "key")
        validate_version(start_revision, "start_revision")
        self._session.ensure_usable()
        handle = WatchHandle(
            lambda cb: self._backend.watch(
                key, _counted(cb, self._target.kind), prefix=recursive, start_revision=start_revision
            ),
            callback,
        )
        with self._handles_lock:
            self._handles.add(handle)
        if self._session.state is SessionState.CLOSED:  # closed as it started: close() may
            handle.end()  # have listed the handles before this one (its backend stops the watch)
        return handle

    def server_info(self) -> ServerInfo:
        """Backend kind, endpoints, server version, members and leader (where told)."""
        return self._call(
            lambda: self._backend.server_info(self._target.timeout), idempotent=True, op="server_info"
        )

    def expire_session(self) -> None:
        """Declare the session LOST now and open a new one (for fault-injection tests)."""
        self._session.expire_now("expired by expire_session()")

    @property
    def state(self) -> SessionState:
        return self._session.state


def _counted(callback: Callable[[WatchEvent], None], kind: str) -> Callable[[WatchEvent], None]:
    """``callback``, counting each event when a probe is active as the watch starts (decided
    once: an unobserved watch pays nothing per event)."""
    probe = probes.active
    if probe is None:
        return callback

    def counting(event: WatchEvent) -> None:
        probe.watch_event(kind, event.type.value)
        callback(event)

    return counting


def _retried_on_unavailable(fn: Callable[[], T], timeout: float) -> T:
    """``fn()`` under the default policy of idempotent calls: retried on BackendUnavailableError
    with :data:`~coordkit.core.retry.QUICK` back-off until ``timeout`` seconds have passed
    since the first attempt, then its last error is raised; any other error at once.

    That is ``Retrying(stop=stop_after_delay(timeout), wait=QUICK,
    retry=retry_if_exception_type(BackendUnavailableError), reraise=True)``, except that the
    first attempt runs before tenacity is imported: a process whose calls work at once (the
    CLI's ``get``) never loads it. tenacity then replays that failed attempt as its own first,
    so the back-off and the bound are the same as if it had made it.
    """
    started = time.monotonic()
    try:
        return fn()
    except BackendUnavailableError as exc:
        failed: BackendUnavailableError | None = exc
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay

    from .retry import QUICK

    def attempt() -> T:
        nonlocal failed
        if failed is not None:
            error, failed = failed, None
            raise error
        return fn()

    retrying = Retrying(
        stop=stop_after_delay(max(0.0, timeout - (time.monotonic() - started))),
        wait=QUICK,
        retry=retry_if_exception_type(BackendUnavailableError),
        reraise=True,
    )
    return retrying(attempt)
