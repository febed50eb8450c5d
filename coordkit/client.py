"""The client: ``coordkit.connect(url)`` and the key/value surface.

One client owns one backend connection and one :class:`~coordkit.session.Session`.
Every ephemeral key, lock, leadership and registration made through the client belongs to
that session. Close the client (or leave its ``with`` block) to end the session at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from ._security import TLS, AclSpec
from ._url import Target, parse_url
from .balancing.balancer import DEFAULT_FAILURES, FailureSpec
from .balancing.budget import RetryBudget
from .balancing.ejection import OutlierEjection
from .balancing.filters import FilterSpec
from .balancing.strategies import Strategy, StrategyName
from .backends.base import Backend, Check, Entry, Op, Put, ServerInfo, WatchEvent
from .discovery._checks import DEFAULT_BASE
from ._commit_ops import checked_ops
from .errors import BackendUnavailableError, ConfigurationError, ConflictError, OwnershipError
from .names import validate_name, validate_path, validate_value, validate_version
from .session import Session, SessionListener, SessionState
from .watch import WatchHandle

if TYPE_CHECKING:
    from .balancing.balancer import Balancer
    from .config import Config
    from .discovery.cache import ServiceCache
    from .discovery.instance import ServiceInstance
    from .discovery.registry import Registration
    from .recipes.election import Election
    from .recipes.lock import Lock, RWLock, Semaphore

__all__ = ["Client", "Fence", "connect"]


class Fence(Protocol):
    """Anything that can guard a write: a held Lock, Semaphore slot or leadership."""

    def fence_check(self) -> tuple[str, int]: ...

T = TypeVar("T")
S = TypeVar("S")
Value = bytes | bytearray | str


def _make_backend(target: Target) -> Backend:
    # Imports stay lazy so that a memory:// user never imports kazoo or etcd3.
    if target.kind == "zookeeper":
        from .backends.zookeeper.backend import ZooKeeperBackend

        return ZooKeeperBackend(list(target.endpoints), target.namespace,
                                options={"operation_timeout": target.timeout, "security": target.security})
    if target.kind == "etcd":
        from .backends.etcd.backend import EtcdBackend

        return EtcdBackend(list(target.endpoints), target.namespace,
                           options={"operation_timeout": target.timeout, "security": target.security})
    from .backends.memory import MemoryBackend

    return MemoryBackend(target.endpoints[0], target.namespace, options={})


def connect(url: str | None = None, *, ttl: float | None = None, timeout: float | None = None,
            connect_timeout: float | None = None, retry: Retrying | None = None,
            margin: float | None = None, tls: bool | TLS | None = None, user: str | None = None,
            password: str | None = None, password_file: str | None = None, acl: AclSpec = None,
            sasl: str | None = None) -> Client:
    """Connect to the store at ``url`` (default ``$COORDKIT_URL``, else a running
    ``coordkit dev`` server) and open a session.

    Options (also as URL query parameters): ``ttl`` (session TTL, seconds, default 10),
    ``timeout`` (per operation, default 5), ``connect_timeout`` (default ``timeout``),
    ``margin`` (seconds taken off the TTL for the ownership deadline, default 0.1 + 2% of
    the TTL: see :attr:`Session.valid_until`).
    ``retry`` is a tenacity ``Retrying`` used for idempotent operations; the default
    retries BackendUnavailableError with jittered back-off within ``timeout``.

    Raises ConfigurationError for a bad URL or option, BackendUnavailableError (naming
    the endpoints) if no server answers within ``connect_timeout``.

    Secured clusters: ``tls`` (True: the system's CA store; ``TLS(ca=, cert=, key=)`` for a
    CA bundle and mutual TLS), ``user`` with ``password`` or ``password_file``, and on
    ZooKeeper ``acl`` for the nodes coordkit creates ("creator", the default when a user is
    given; "creator+read"; "open"; or ``scheme:id:perms`` entries) and ``sasl`` ("DIGEST-MD5":
    SASL instead of digest, needs pure-sasl). The URL and the
    ``COORDKIT_USER/PASSWORD/PASSWORD_FILE/CA/CERT/KEY`` environment give the same; a
    password in the URL is refused. Wrong credentials raise AuthenticationError (TLSError
    for certificates), a refused operation PermissionDeniedError; neither is retried.
    """
    given = {"ttl": ttl, "timeout": timeout, "connect_timeout": connect_timeout, "margin": margin}
    secure: dict[str, object] = {"tls": tls, "user": user, "password": password,
                                 "password_file": password_file, "acl": acl, "sasl": sasl}
    target = parse_url(url, {k: v for k, v in given.items() if v is not None}, security=secure)
    backend = _make_backend(target)
    session = Session(backend, ttl=target.ttl, timeout=target.connect_timeout,
                      margin=target.margin)
    try:
        session.open()
    except BaseException:
        backend.close()
        raise
    return Client(target, backend, session, retry)


class Client:
    """A connection to one coordination store (built by :func:`connect`)."""

    def __init__(self, target: Target, backend: Backend, session: Session,
                 retry: Retrying | None = None) -> None:
        self._target = target
        self._backend = backend
        self._session = session
        self._retry = retry or Retrying(
            stop=stop_after_delay(target.timeout),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            retry=retry_if_exception_type(BackendUnavailableError),
            reraise=True,
        )
        self._guards: dict[str, threading.Lock] = {}
        self._guards_lock = threading.Lock()

    def _local_guard(self, name: str) -> threading.Lock:
        """One in-process lock per queue key: etcd's layout gives a session one contender per
        key, so two handles of one client (whatever the recipe, however the name is spelled)
        must take turns locally first."""
        key = self._backend.canonical(validate_name(name, "name"))
        with self._guards_lock:
            return self._guards.setdefault(key, threading.Lock())

    # --- the client itself -----------------------------------------------------------
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the session (its ephemeral keys vanish at once) and release resources.
        Idempotent; bounded in time even when the servers are unreachable."""
        self._session.close()

    def __repr__(self) -> str:
        return f"<coordkit.Client {self._target.url} {self._session.state.value}>"

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

    def _call(self, fn: Callable[[], T], *, idempotent: bool) -> T:
        self._session.ensure_usable()
        if not idempotent:
            return fn()
        return self._retry(fn)

    # --- keys ------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        """The :class:`~coordkit.Entry` at ``key`` (value, version, revisions), or None."""
        key = validate_name(key, "key")
        return self._call(lambda: self._backend.get(key), idempotent=True)

    def get_text(self, key: str, default: str | None = None) -> str | None:
        """The value at ``key`` decoded as UTF-8, or ``default`` if there is none."""
        entry = self.get(key)
        return default if entry is None else entry.text

    def put(self, key: str, value: Value, *, ephemeral: bool = False, version: int | None = None,
            create: bool = False, fence: Fence | None = None) -> Entry:
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
        OwnershipError and nothing is written. A stale holder cannot write.
        """
        if create and version is not None:
            raise ConfigurationError("put() takes create=True or version=N, not both")
        op = Put(validate_name(key, "key"), validate_value(value), validate_version(version), create, ephemeral)
        if fence is not None:
            return self._fenced_put(op, fence)
        plain = version is None and not create
        return self._call(lambda: self._backend.put(op), idempotent=plain)

    def _fenced_put(self, op: Put, fence: Fence) -> Entry:
        fence_key, token = fence.fence_check()
        try:
            result = self._call(
                lambda: self._backend.commit([Check(fence_key, create_revision=token), op]),
                idempotent=False)
        except ConflictError:
            holder = self._call(lambda: self._backend.get(fence_key), idempotent=True)
            if holder is None or holder.create_revision != token:
                raise OwnershipError(
                    f"write to {op.key} refused: the fence {fence_key} (token {token}) is no "
                    "longer held") from None
            raise
        entry = result[1]
        assert entry is not None
        return entry

    # --- recipes -----------------------------------------------------------------------
    def lock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> Lock:
        """A distributed lock (see :class:`coordkit.Lock`); nothing is sent until acquire()."""
        from .recipes.lock import Lock

        return Lock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    def semaphore(self, name: str, limit: int, *, identity: str | None = None,
                  lose_on_suspend: bool = True) -> Semaphore:
        """A distributed semaphore admitting at most ``limit`` holders."""
        from .recipes.lock import Semaphore

        return Semaphore(self, name, limit, identity=identity, lose_on_suspend=lose_on_suspend)

    def rwlock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> "RWLock":
        """A fair read/write lock: ``with rw.read:`` (shared) and ``with rw.write:`` (exclusive)."""
        from .recipes.lock import RWLock

        return RWLock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    def election(self, name: str, *, identity: str | None = None,
                 lose_on_suspend: bool = True) -> Election:
        """A leader election (see :class:`coordkit.Election`)."""
        from .recipes.election import Election

        return Election(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

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
        )

    def children(self, path: str = "/") -> list[str]:
        """Sorted names of the immediate children of ``path``."""
        path = validate_path(path)
        return self._call(lambda: self._backend.children(path), idempotent=True)

    def tree(self, path: str = "/") -> list[Entry]:
        """Every entry strictly below ``path``, sorted by key, as one consistent read."""
        path = validate_path(path)
        return self._call(lambda: self._backend.tree(path), idempotent=True)[0]

    def snapshot(self, path: str = "/") -> tuple[list[Entry], int]:
        """Like :meth:`tree`, with the revision the read holds at: a watch started before
        the read can drop every event at or below it (etcd, memory: exact)."""
        path = validate_path(path)
        return self._call(lambda: self._backend.tree(path), idempotent=True)

    def commit(self, ops: list[Op]) -> list[Entry | None]:
        """Apply ``ops`` (:class:`~coordkit.Check`, :class:`~coordkit.Put`,
        :class:`~coordkit.Delete`) atomically: all or nothing. Not retried.

        At most ``coordkit.names.MAX_COMMIT_OPS`` (128) ops and 1 MiB of values, on every
        backend: a larger commit raises CommitTooLargeError before anything is sent.
        """
        checked = checked_ops(ops, self._target.namespace)
        return self._call(lambda: self._backend.commit(checked), idempotent=False)

    def watch(self, key_or_path: str, callback: Callable[[WatchEvent], None] | None = None, *,
              recursive: bool = False, start_revision: int | None = None) -> WatchHandle:
        """Watch one key, or with ``recursive`` every key strictly below a path.

        Events arrive in store order, each once, and the watch survives reconnects and
        new sessions. When this returns the watch is in place: every later change is
        delivered (a read that fixes "now" is done first; it raises if no server answers). With ``callback``, it is called on the watch's own thread; without,
        iterate over the returned handle. Cancel the handle (or use ``with``) to stop.
        """
        key = validate_path(key_or_path) if recursive else validate_name(key_or_path, "key")
        validate_version(start_revision, "start_revision")
        self._session.ensure_usable()
        return WatchHandle(
            lambda cb: self._backend.watch(key, cb, prefix=recursive, start_revision=start_revision),
            callback,
        )

    # --- configuration, discovery and balancing ---------------------------------------------
    # (the options are documented on the classes; the stubs keep each feature's module lazy)
    @overload
    def config(self, app: str, *, base: str = "/config",
               defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
               schema: None = None, env_prefix: str | None = None,
               environ: Mapping[str, str] | None = None, writable: bool = False,
               live: bool = True) -> Config[None]: ...
    @overload
    def config(self, app: str, *, base: str = "/config",
               defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
               schema: Callable[..., S], env_prefix: str | None = None,
               environ: Mapping[str, str] | None = None, writable: bool = False,
               live: bool = True) -> Config[S]: ...
    def config(self, app: str, *, base: str = "/config",
               defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
               schema: Callable[..., Any] | None = None, env_prefix: str | None = None,
               environ: Mapping[str, str] | None = None, writable: bool = False,
               live: bool = True) -> Config[Any]:
        """The live configuration of ``app`` (see :class:`coordkit.Config`); with ``schema``
        (a dataclass, pydantic model or function returning ``S``) a ``Config[S]`` whose
        :attr:`~coordkit.Config.typed` is an ``S``."""
        from .config import Config

        return Config(self, app, base=base, defaults=defaults, schema=schema, env_prefix=env_prefix,
                      environ=environ, writable=writable, live=live)

    def register(self, name: str, address: str, port: int, *, id: str | None = None,
                 metadata: Mapping[str, str] | None = None, weight: int = 1, base: str = DEFAULT_BASE,
                 ssl_port: int | None = None,
                 uri_spec: str | Mapping[str, Any] | None = None) -> Registration:
        """Register an instance of service ``name`` (see :class:`coordkit.Registration`)."""
        from .discovery.registry import Registration

        return Registration(self, name, address, port, id=id, metadata=metadata, weight=weight, base=base,
                            ssl_port=ssl_port, uri_spec=uri_spec)

    def instances(self, name: str, *, base: str = DEFAULT_BASE) -> list[ServiceInstance]:
        """The live instances of service ``name`` (one read)."""
        from .discovery.registry import read_instances

        return read_instances(self, name, base=base)

    def discover(self, name: str, *, base: str = DEFAULT_BASE) -> ServiceCache:
        """A live cache of service ``name`` (see :class:`coordkit.ServiceCache`)."""
        from .discovery.cache import ServiceCache

        return ServiceCache(self, name, base=base)

    def balancer(self, name: str, strategy: StrategyName | Strategy = "round_robin", *,
                 base: str = DEFAULT_BASE, filters: FilterSpec = None,
                 ejection: OutlierEjection | bool = True, retry: Retrying | None = None,
                 budget: RetryBudget | bool = True, failure: FailureSpec = DEFAULT_FAILURES) -> Balancer:
        """A client-side load balancer over a live cache of service ``name`` (see
        :class:`coordkit.Balancer`); a ``strategy`` name outside :data:`StrategyName` is a
        ConfigurationError."""
        from .balancing.balancer import Balancer

        return Balancer.for_service(self, name, strategy, base=base, filters=filters, ejection=ejection,
                                    retry=retry, budget=budget, failure=failure)

    def server_info(self) -> ServerInfo:
        """Backend kind, endpoints, server version, members and leader (where told)."""
        return self._call(lambda: self._backend.server_info(self._target.timeout), idempotent=True)

    def expire_session(self) -> None:
        """Declare the session LOST now and open a new one (for fault-injection tests)."""
        self._session.expire_now("expired by expire_session()")

    @property
    def state(self) -> SessionState:
        return self._session.state
