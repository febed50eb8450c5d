"""The client: ``coordkit.connect(url)`` and :class:`Client`, the facade over the features.

A client is a :class:`~coordkit.core.store.Store` (keys, watches, the session) with a factory
method for every feature: locks, semaphores, read/write locks, elections, configuration,
registration, discovery and balancing. This is the only module that imports the features;
they are built over the store and never import the client back. Each factory method imports
its feature when first called, so a process that only reads and writes keys (the CLI's
``get``) loads none of them; the types are imported for type checkers only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .balancing.failures import DEFAULT_FAILURES, FailureSpec
from .core.security import TLS, AclSpec
from .core.store import Fence, Store
from .core.url import parse_url
from .discovery.defaults import DEFAULT_BASE, UP

if TYPE_CHECKING:
    from tenacity import Retrying

    from .balancing.balancer import Balancer
    from .balancing.budget import RetryBudget
    from .balancing.ejection import OutlierEjection
    from .balancing.filters import FilterSpec
    from .balancing.strategies import Strategy, StrategyName
    from .config import Config
    from .discovery.cache import ServiceCache
    from .discovery.instance import ServiceInstance
    from .discovery.registry import Registration
    from .recipes.election import Election
    from .recipes.lock import Lock, RWLock, Semaphore

__all__ = ["Client", "Fence", "connect"]

S = TypeVar("S")


def connect(
    url: str | None = None,
    *,
    ttl: float | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = None,
    retry: Retrying | None = None,
    margin: float | None = None,
    tls: bool | TLS | None = None,
    user: str | None = None,
    password: str | None = None,
    password_file: str | None = None,
    acl: AclSpec = None,
    sasl: str | None = None,
    session: bool = True,
) -> Client:
    """Connect to the store at ``url`` (default ``$COORDKIT_URL``, else a running
    ``coordkit dev`` server: see :func:`coordkit.core.url.default_url`) and open a session.

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

    ``session=False``: a read-only client, for reads, watches and plain writes. It opens no
    session (on etcd no lease is granted or revoked; on ZooKeeper kazoo's own session
    creates nothing); an ephemeral put, a lock, semaphore, election or registration raises
    ConfigurationError before anything is sent.
    """
    given = {"ttl": ttl, "timeout": timeout, "connect_timeout": connect_timeout, "margin": margin}
    secure: dict[str, object] = {
        "tls": tls,
        "user": user,
        "password": password,
        "password_file": password_file,
        "acl": acl,
        "sasl": sasl,
    }
    target = parse_url(url, {k: v for k, v in given.items() if v is not None}, security=secure)
    return Client.open(target, retry, session=session)


class Client(Store):
    """A connection to one coordination store (built by :func:`connect`): the key/value surface
    of :class:`~coordkit.core.store.Store` and a factory method for every feature."""

    # --- recipes -----------------------------------------------------------------------
    def lock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> Lock:
        """A distributed lock (see :class:`coordkit.Lock`); nothing is sent until acquire()."""
        self.require_session("a lock")
        from .recipes.lock import Lock

        return Lock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    def semaphore(
        self, name: str, limit: int, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> Semaphore:
        """A distributed semaphore admitting at most ``limit`` holders."""
        self.require_session("a semaphore")
        from .recipes.lock import Semaphore

        return Semaphore(self, name, limit, identity=identity, lose_on_suspend=lose_on_suspend)

    def rwlock(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> RWLock:
        """A fair read/write lock: ``with rw.read:`` (shared) and ``with rw.write:`` (exclusive)."""
        self.require_session("a read/write lock")
        from .recipes.lock import RWLock

        return RWLock(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    def election(self, name: str, *, identity: str | None = None, lose_on_suspend: bool = True) -> Election:
        """A leader election (see :class:`coordkit.Election`)."""
        self.require_session("an election")
        from .recipes.election import Election

        return Election(self, name, identity=identity, lose_on_suspend=lose_on_suspend)

    # --- configuration, discovery and balancing ---------------------------------------------
    # (the options are documented on the classes)
    @overload
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> Config[None]: ...
    @overload
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., S],
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> Config[S]: ...
    def config(
        self,
        app: str,
        *,
        base: str = "/config",
        defaults: Mapping[str, Any] | str | os.PathLike[str] | None = None,
        schema: Callable[..., Any] | None = None,
        env_prefix: str | None = None,
        environ: Mapping[str, str] | None = None,
        writable: bool = False,
        live: bool = True,
    ) -> Config[Any]:
        """The live configuration of ``app`` (see :class:`coordkit.Config`); with ``schema``
        (a dataclass, pydantic model or function returning ``S``) a ``Config[S]`` whose
        :attr:`~coordkit.Config.typed` is an ``S``."""
        from .config import Config

        return Config(
            self,
            app,
            base=base,
            defaults=defaults,
            schema=schema,
            env_prefix=env_prefix,
            environ=environ,
            writable=writable,
            live=live,
        )

    def register(
        self,
        name: str,
        address: str,
        port: int,
        *,
        id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        weight: int = 1,
        base: str = DEFAULT_BASE,
        ssl_port: int | None = None,
        uri_spec: str | Mapping[str, Any] | None = None,
    ) -> Registration:
        """Register an instance of service ``name`` (see :class:`coordkit.Registration`)."""
        self.require_session("a registration")
        from .discovery.registry import Registration

        return Registration(
            self,
            name,
            address,
            port,
            id=id,
            metadata=metadata,
            weight=weight,
            base=base,
            ssl_port=ssl_port,
            uri_spec=uri_spec,
        )

    def set_status(
        self, name: str, instance_id: str, status: str, *, reason: str = "", base: str = DEFAULT_BASE
    ) -> ServiceInstance:
        """An operator's change of the status (``up``, ``draining``, ``down``) of an instance
        registered by any process: see :func:`coordkit.discovery.status.set_instance_status`."""
        from .discovery.status import set_instance_status

        return set_instance_status(self, name, instance_id, status, reason=reason, base=base)

    def instances(self, name: str, *, base: str = DEFAULT_BASE) -> list[ServiceInstance]:
        """The live instances of service ``name`` (one read)."""
        from .discovery.registry import read_instances

        return read_instances(self, name, base=base)

    def discover(
        self, name: str, *, base: str = DEFAULT_BASE, statuses: Collection[str] | None = (UP,)
    ) -> ServiceCache:
        """A live cache of service ``name`` (see :class:`coordkit.ServiceCache`): its instances
        in ``statuses`` (default up only; None: all)."""
        from .discovery.cache import ServiceCache

        return ServiceCache(self, name, base=base, statuses=statuses)

    def balancer(
        self,
        name: str,
        strategy: StrategyName | Strategy = "round_robin",
        *,
        base: str = DEFAULT_BASE,
        filters: FilterSpec = None,
        ejection: OutlierEjection | bool = True,
        retry: Retrying | None = None,
        budget: RetryBudget | bool = True,
        failure: FailureSpec = DEFAULT_FAILURES,
        statuses: Collection[str] | None = (UP,),
    ) -> Balancer:
        """A client-side load balancer over a live cache of service ``name`` (see
        :class:`coordkit.Balancer`); a ``strategy`` name outside :data:`StrategyName` is a
        ConfigurationError."""
        from .balancing.balancer import Balancer

        return Balancer.for_service(
            self,
            name,
            strategy,
            base=base,
            filters=filters,
            ejection=ejection,
            retry=retry,
            budget=budget,
            failure=failure,
            statuses=statuses,
        )
