"""The one table that turns kazoo's exceptions into coordkit's errors (ZooKeeper backend)."""

from __future__ import annotations

import kazoo.exceptions as ke
from kazoo.handlers.threading import KazooTimeoutError

from ...errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    CoordkitError,
    KeyExistsError,
    NotEmptyError,
    NotFoundError,
    OperationTimeoutError,
    PermissionDeniedError,
    SessionLostError,
    VersionConflictError,
)

__all__ = ["TRANSLATED", "translate"]

# The one translation table: kazoo exception -> (coordkit error, message). Looked up along the
# exception's MRO, so ConnectionClosedError wins over its base SessionExpiredError.
_ERRORS: dict[type[BaseException], tuple[type[CoordkitError], str]] = {
    ke.NoNodeError: (NotFoundError, "{key} does not exist"),
    ke.NodeExistsError: (KeyExistsError, "{key} already exists"),
    ke.BadVersionError: (VersionConflictError, "{key} is not at the expected version"),
    ke.NotEmptyError: (NotEmptyError, "{key} has keys below it; delete it with recursive=True"),
    ke.NoChildrenForEphemeralsError: (
        ConfigurationError,
        "{key}: ZooKeeper keeps no keys below an ephemeral key",
    ),
    ke.ConnectionClosedError: (
        BackendUnavailableError,
        "link to {where} closed as its session was replaced{maybe}",
    ),
    ke.SessionExpiredError: (SessionLostError, "the ZooKeeper session expired"),
    ke.ConnectionLoss: (BackendUnavailableError, "lost the connection to ZooKeeper at {where}{maybe}"),
    ke.ConnectionDropped: (BackendUnavailableError, "lost the connection to ZooKeeper at {where}{maybe}"),
    ke.SessionMovedError: (BackendUnavailableError, "the session moved to another ZooKeeper server{maybe}"),
    ke.ZookeeperStoppedError: (BackendUnavailableError, "the ZooKeeper client at {where} is stopped"),
    ke.ThrottledOpError: (BackendUnavailableError, "ZooKeeper at {where} is throttling requests"),
    KazooTimeoutError: (
        OperationTimeoutError,
        "ZooKeeper at {where} did not answer within {timeout:g}s{maybe}",
    ),
    ke.OperationTimeoutError: (OperationTimeoutError, "ZooKeeper at {where} timed out{maybe}"),
    ke.RequestTimeoutError: (OperationTimeoutError, "ZooKeeper at {where} timed out{maybe}"),
    ke.NoAuthError: (
        PermissionDeniedError,
        "permission denied: {operation} of {key} on ZooKeeper {where}: "
        "the node's ACL does not allow {identity}",
    ),
    ke.AuthFailedError: (AuthenticationError, "ZooKeeper at {where} rejected the credentials"),
    ke.InvalidACLError: (ConfigurationError, "{key}: invalid ACL"),
    ke.BadArgumentsError: (ConfigurationError, "{key}: ZooKeeper refused the arguments"),
    ke.QuotaExceededError: (ConfigurationError, "{key}: over the ZooKeeper quota"),
    OSError: (BackendUnavailableError, "cannot reach ZooKeeper at {where}: {exc}"),
    ke.KazooException: (CoordkitError, "unexpected ZooKeeper error on {key}: {exc!r}"),
}


def translate(
    exc: BaseException,
    *,
    key: str,
    where: str,
    timeout: float,
    versioned: bool = False,
    write: bool = False,
    identity: str = "this client",
) -> CoordkitError:
    """The coordkit error for a kazoo (or socket) exception. A missing node is a version
    conflict when a version was asked for; a refused one names the key, the operation
    (read or write) and ``identity``."""
    if versioned and isinstance(exc, ke.NoNodeError):
        return VersionConflictError(f"{key} does not exist (expected at a given version)")
    for klass in type(exc).__mro__:
        if klass in _ERRORS:
            kind, text = _ERRORS[klass]
            maybe = "; the write may or may not have been applied" if write else ""
            operation = "write" if write else "read"
            message = text.format(
                key=key or "/",
                where=where,
                timeout=timeout,
                maybe=maybe,
                exc=exc,
                operation=operation,
                identity=identity,
            )
            if kind is PermissionDeniedError:  # refused before anything was applied
                return PermissionDeniedError(message, key=key or "/", operation=operation)
            return kind(message)
    return CoordkitError(f"unexpected error from ZooKeeper on {key}: {exc!r}")


# What the backend catches and hands to translate(); coordkit errors pass through untouched.
TRANSLATED = (ke.KazooException, KazooTimeoutError, OSError)
