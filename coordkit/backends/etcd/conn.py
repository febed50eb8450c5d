"""Channels to an etcd cluster: endpoint failover, deadlines, and the one error table.

python-etcd3 0.12 talks to a single ``host:port`` (its ``MultiEndpointEtcd3Client`` came after
the release), so failover lives here: calls go to the *current* endpoint; a call that fails
with UNAVAILABLE or DEADLINE_EXCEEDED moves the current endpoint to the next one for every
later call. A call that is safe to repeat (a read, a heartbeat, a lease grant whose
duplicate simply expires) is repeated on the next endpoint within the same deadline; a
write is repeated only when gRPC says it never left this process ("failed to connect"),
because otherwise it may have been applied.

We use python-etcd3's generated gRPC stubs directly, over our own channel (TLS and an auth
token renewed when etcd forgets it, see :mod:`.auth`), so that every request can say
exactly what it needs (transactions with reads, keys-only ranges) and carry its own deadline.
Authentication and permission failures are never retried.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from ...core.security import Security
from ...errors import (
    AuthenticationError,
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
    CoordkitError,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    SessionLostError,
)
from .auth import EtcdChannel, is_stale_token
from .compat import import_etcd3

etcd3 = import_etcd3()
etcdrpc: Any = etcd3.etcdrpc

__all__ = ["EtcdConnection", "Stubs", "etcdrpc", "translate"]

T = TypeVar("T")
_SC = grpc.StatusCode

_CHANNEL_OPTIONS = [
    # A restarted server must be found again within a heartbeat, not after gRPC's default
    # back-off (up to 120 s), or a session would be declared lost while the server is up.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # gRPC also uses this as the connect (TCP + HTTP/2 handshake) timeout: long enough for a
    # loaded machine, short enough that a paused server is given up on for the next one.
    ("grpc.min_reconnect_backoff_ms", 5000),
    # Pings detect a dead or paused server under a quiet watch stream. etcd refuses pings
    # closer than 5 s (--grpc-keepalive-min-time) and pings without a call in flight.
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.http2.max_pings_without_data", 0),
    # tree() of a large subtree is one response; gRPC's default cap is 4 MiB.
    ("grpc.max_receive_message_length", -1),
]

# etcd's WithRequireLeader: a member cut off from the leader fails our calls and closes our
# watch streams with "no leader", which moves us to another member instead of waiting there.
_REQUIRE_LEADER = (("hasleader", "true"),)

# The one translation table. First matching row wins: (gRPC status code or python-etcd3
# exception type, substring of the details or "", coordkit error, what it means).
_TABLE: tuple[tuple[Any, str, type[CoordkitError], str], ...] = (
    (_SC.NOT_FOUND, "lease not found", SessionLostError, "the session (etcd lease) is gone"),
    (_SC.NOT_FOUND, "", NotFoundError, "not found"),
    (
        _SC.INVALID_ARGUMENT,
        "authentication failed",
        AuthenticationError,
        "the user or password was rejected (etcd does not say which): check user= and the password file",
    ),
    (
        _SC.INVALID_ARGUMENT,
        "user name is empty",
        AuthenticationError,
        "etcd requires authentication: give user= with password_file= (or a client certificate)",
    ),
    (
        _SC.FAILED_PRECONDITION,
        "authentication is not enabled",
        AuthenticationError,
        "etcd has authentication disabled: drop user= and the password",
    ),
    (
        _SC.UNAUTHENTICATED,
        "invalid auth token",
        AuthenticationError,
        "etcd refused the auth token even just after authenticating",
    ),
    (
        _SC.PERMISSION_DENIED,
        "",
        PermissionDeniedError,
        "permission denied: the etcd user's roles do not allow it",
    ),
    (_SC.UNAVAILABLE, "", BackendUnavailableError, "no etcd server answered"),
    (_SC.DEADLINE_EXCEEDED, "", OperationTimeoutError, "etcd did not answer in time"),
    (_SC.CANCELLED, "", BackendUnavailableError, "the call was cut off"),
    (_SC.RESOURCE_EXHAUSTED, "", BackendUnavailableError, "etcd is overloaded or out of space"),
    (_SC.OUT_OF_RANGE, "", NotFoundError, "that revision is compacted or in the future"),
    (_SC.INVALID_ARGUMENT, "", ConfigurationError, "etcd refused the request"),
    (_SC.FAILED_PRECONDITION, "", ConfigurationError, "etcd refused the request"),
    (_SC.UNAUTHENTICATED, "", AuthenticationError, "authentication failed: check user and password"),
    (_SC.INTERNAL, "", BackendUnavailableError, "etcd failed internally"),
    (_SC.UNKNOWN, "", BackendUnavailableError, "etcd failed"),
    (etcd3.exceptions.ConnectionTimeoutError, "", OperationTimeoutError, "etcd did not answer in time"),
    (etcd3.exceptions.ConnectionFailedError, "", BackendUnavailableError, "no etcd server answered"),
    (etcd3.exceptions.RevisionCompactedError, "", NotFoundError, "that revision is compacted"),
    (etcd3.exceptions.PreconditionFailedError, "", ConfigurationError, "etcd refused the request"),
    (etcd3.exceptions.WatchTimedOut, "", OperationTimeoutError, "etcd did not answer in time"),
    (etcd3.exceptions.Etcd3Exception, "", BackendUnavailableError, "etcd failed"),
)


def translate(exc: BaseException, what: str, endpoints: Sequence[str]) -> CoordkitError:
    """The coordkit error for ``exc`` raised by gRPC or python-etcd3 during ``what``."""
    if isinstance(exc, CoordkitError):
        return exc
    code = exc.code() if isinstance(exc, grpc.RpcError) else None
    details = (exc.details() if isinstance(exc, grpc.RpcError) else str(exc)) or ""
    where = ",".join(endpoints)
    for match, needle, error, meaning in _TABLE:
        hit = match is code if isinstance(match, _SC) else isinstance(exc, match)
        if hit and needle in details:
            message = f"{what} on etcd {where}: {meaning} ({details or type(exc).__name__})"
            if error is PermissionDeniedError:
                return PermissionDeniedError(message, key=what.rpartition(" ")[2], operation=what)
            return error(message)
    return BackendUnavailableError(f"{what} on etcd {where} failed: {type(exc).__name__}: {details}")


def _never_sent(exc: grpc.RpcError) -> bool:
    # gRPC's wording when no connection could be made: the request cannot have been applied.
    return exc.code() is _SC.UNAVAILABLE and (exc.details() or "").startswith("failed to connect")


def _host_port(endpoint: str) -> tuple[str, int]:
    host, _, port = endpoint.rpartition(":")  # "[::1]:2379" keeps its brackets for gRPC
    if not host or not port.isdigit():
        raise ConfigurationError(f"etcd endpoint {endpoint!r} is not host:port")
    return host, int(port)


@dataclass(frozen=True)
class Stubs:
    """The gRPC stubs of one endpoint's channel, and the call arguments it needs."""

    index: int
    endpoint: str
    client: Any  # etcd3.Etcd3Client: owns the channel and the auth token
    watch: Any  # etcdrpc.WatchStub: ours, python-etcd3's Watcher shares one stream

    @property
    def kv(self) -> Any:
        return self.client.kvstub

    @property
    def lease(self) -> Any:
        return self.client.leasestub

    @property
    def cluster(self) -> Any:
        return self.client.clusterstub

    @property
    def maintenance(self) -> Any:
        return self.client.maintenancestub

    def args(self, timeout: float | None) -> dict[str, Any]:
        """Keyword arguments of a stub call: deadline, auth token, require-leader."""
        return {
            "timeout": timeout,
            "credentials": self.client.call_credentials,
            "metadata": tuple(self.client.metadata or ()) + _REQUIRE_LEADER,
        }


class EtcdConnection:
    """One channel per endpoint (made on first use), the current endpoint, and failover."""

    def __init__(self, endpoints: Sequence[str], timeout: float, options: Mapping[str, Any]) -> None:
        """``options["security"]`` (a ``Security``) says how to talk TLS and who to be."""
        if not endpoints:
            raise ConfigurationError("etcd needs at least one endpoint host:port")
        self.endpoints = list(endpoints)
        self._addresses = [_host_port(endpoint) for endpoint in self.endpoints]
        self.timeout = timeout
        security = options.get("security")
        self.security = security if isinstance(security, Security) else Security()
        self._lock = threading.Lock()
        self._index = 0
        self._stubs: dict[int, Stubs] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def current(self) -> Stubs:
        """The stubs of the current endpoint. Raises ClosedError after :meth:`close`;
        gRPC errors of the authentication call (with user/password) pass through."""
        with self._lock:
            if self._closed:
                raise ClosedError("the etcd backend is closed")
            index = self._index
        return self.stubs_at(index)

    def stubs_at(self, index: int) -> Stubs:
        """The stubs of endpoint ``index`` (its channel made on first use), current or not."""
        with self._lock:
            if self._closed:
                raise ClosedError("the etcd backend is closed")
            stubs = self._stubs.get(index)
        if stubs is not None:
            return stubs
        host, port = self._addresses[index]
        client = EtcdChannel(
            etcdrpc, host, port, timeout=self.timeout, security=self.security, options=_CHANNEL_OPTIONS
        )
        made = Stubs(index, self.endpoints[index], client, etcdrpc.WatchStub(client.channel))
        with self._lock:
            if self._closed or index in self._stubs:
                client.close()  # lost a race with close() or with another thread
                if self._closed:
                    raise ClosedError("the etcd backend is closed")
                return self._stubs[index]
            self._stubs[index] = made
            return made

    def failover(self, failed: Stubs) -> None:
        """Make the next endpoint current, unless another thread already moved on."""
        with self._lock:
            if self._index == failed.index:
                self._index = (failed.index + 1) % len(self.endpoints)

    def call(
        self, what: str, fn: Callable[[Stubs, float], T], *, retry_safe: bool, timeout: float | None = None
    ) -> T:
        """Run ``fn(stubs, remaining_seconds)`` against the current endpoint within one deadline.

        Raises only coordkit errors (see :func:`translate`); ClosedError once closed.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        renewed = False
        attempt = 0
        while attempt < len(self.endpoints):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            stubs: Stubs | None = None
            generation = 0
            try:
                stubs = self.current()
                generation = stubs.client.authentications
                return fn(stubs, remaining)
            except (grpc.RpcError, etcd3.exceptions.Etcd3Exception) as exc:
                if self._closed:
                    raise ClosedError(f"the etcd backend was closed during {what}") from exc
                if stubs is not None and not renewed and is_stale_token(exc):
                    # Refused before being applied: once more with a new token.
                    renewed = True
                    stubs.client.forget(generation)
                    continue
                attempt += 1
                code = exc.code() if isinstance(exc, grpc.RpcError) else None
                if stubs is not None and code in (_SC.UNAVAILABLE, _SC.DEADLINE_EXCEEDED):
                    self.failover(stubs)
                last = attempt == len(self.endpoints)
                if code is _SC.UNAVAILABLE and not last and (retry_safe or _never_sent(exc)):
                    continue
                raise translate(exc, what, self.endpoints) from exc
            except ValueError as exc:  # grpc: "Cannot invoke RPC on closed channel!"
                if self._closed:
                    raise ClosedError(f"the etcd backend was closed during {what}") from exc
                raise
        raise OperationTimeoutError(f"{what} on etcd {','.join(self.endpoints)}: no time left")

    def each(self, what: str, fn: Callable[[Stubs, float], T], timeout: float) -> list[T | CoordkitError]:
        """``fn(stubs, timeout)`` on every endpoint in parallel, no failover: per endpoint its
        result or the coordkit error it failed with. For reports of each endpoint's health."""
        results: list[T | CoordkitError] = [
            OperationTimeoutError(f"{what}: no answer within {timeout:g}s")
        ] * len(self.endpoints)

        def one(index: int) -> None:
            try:
                results[index] = fn(self.stubs_at(index), timeout)
            except (grpc.RpcError, etcd3.exceptions.Etcd3Exception) as exc:
                results[index] = translate(exc, what, [self.endpoints[index]])
            except CoordkitError as exc:
                results[index] = exc

        threads = [
            threading.Thread(target=one, args=(i,), daemon=True, name="coordkit-etcd-each")
            for i in range(len(self.endpoints))
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 0.5)  # gRPC enforces the deadline
        return results

    def close(self) -> None:
        """Close every channel (cancelling calls in flight). Idempotent."""
        with self._lock:
            self._closed = True
            stubs, self._stubs = list(self._stubs.values()), {}
        for one in stubs:
            one.client.close()
