"""The coordkit error tree.

Errors are grouped by what the caller can do about them::

    CoordkitError
    ├── ConfigurationError (ValueError)      fix the call: bad URL, option or name
    │   ├── InvalidNameError
    │   ├── CommitTooLargeError               a commit over MAX_COMMIT_OPS ops or the byte
    │   │                                     limit: split it
    │   ├── ConfigValidationError             a setting does not fit the schema
    │   │                                     (defined in coordkit.config)
    │   ├── AuthenticationError               the server refused who we say we are
    │   │   └── TLSError                      the TLS handshake failed (certificates)
    │   └── PermissionDeniedError             this identity may not do that on that key
    ├── BackendUnavailableError (ConnectionError)   retry later: no server answered
    │   └── OperationTimeoutError (TimeoutError)    the operation's deadline passed
    ├── SessionLostError                      ownership is gone: every ephemeral key,
    │                                         lock and leadership of the session vanished
    ├── ClosedError                           the client was closed by its owner
    ├── NotFoundError (KeyError)              the key does not exist
    ├── ConflictError                         somebody else changed the store first
    │   ├── KeyExistsError                    create-if-absent found the key
    │   ├── VersionConflictError              compare-and-set lost the race
    │   └── NotEmptyError                     kept for compatibility: deletes no longer
    │                                         raise it (keys below a key stay)
    ├── OwnershipError                        a lock/leadership/fence is not held
    └── NoInstanceAvailableError (LookupError)  no live instance to pick: register one,
                                              loosen a required filter, or retry later
                                              (defined in coordkit.balancing.errors)

Backends translate their client library's exceptions into these in one table each
(see ``coordkit.backends.zookeeper`` and ``coordkit.backends.etcd``); nothing from
kazoo or grpc reaches the caller.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BackendUnavailableError",
    "ClosedError",
    "CommitTooLargeError",
    "ConfigurationError",
    "ConflictError",
    "CoordkitError",
    "InvalidNameError",
    "KeyExistsError",
    "NotEmptyError",
    "NotFoundError",
    "OperationTimeoutError",
    "OwnershipError",
    "PermissionDeniedError",
    "SessionLostError",
    "TLSError",
    "VersionConflictError",
]


class CoordkitError(Exception):
    """Base class of every error coordkit raises."""


class ConfigurationError(CoordkitError, ValueError):
    """The call itself is wrong (URL, option, argument): fix it; retrying will not help."""


class InvalidNameError(ConfigurationError):
    """A key or recipe name is not acceptable; the message says which rule it broke."""


class CommitTooLargeError(ConfigurationError):
    """A commit holds more ops (or bytes) than one transaction may on every backend; the
    message names the limit and the server setting behind it. Nothing was sent."""


class AuthenticationError(ConfigurationError):
    """The server refused the credentials (user/password, client certificate). Fix the
    credentials: retrying with the same ones will not help, so coordkit never retries it."""


class TLSError(AuthenticationError):
    """The TLS handshake failed: untrusted or mismatched server certificate, a missing or
    expired client certificate, or TLS on one side only. The message says which."""


class PermissionDeniedError(ConfigurationError):
    """This identity may not do this operation on this key (etcd role, ZooKeeper ACL).
    ``key`` and ``operation`` say what was refused; nothing was written."""

    def __init__(self, message: str, *, key: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.operation = operation


class BackendUnavailableError(CoordkitError, ConnectionError):
    """No server answered in time. Retryable: the state of the store is unknown, and a
    write may or may not have been applied."""


class OperationTimeoutError(BackendUnavailableError, TimeoutError):
    """The operation's deadline passed before the server answered."""


class SessionLostError(CoordkitError):
    """The session ended (expired, or declared lost by the client's own clock): every
    ephemeral key, lock and leadership it held is gone."""


class ClosedError(CoordkitError):
    """The client (or the handle) was closed; open a new one."""


class NotFoundError(CoordkitError, KeyError):
    """The key does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class ConflictError(CoordkitError):
    """Somebody else changed the store first: re-read and decide again."""


class KeyExistsError(ConflictError):
    """Create-if-absent found the key already there."""


class VersionConflictError(ConflictError):
    """Compare-and-set failed: the key's version is not the one expected."""


class NotEmptyError(ConflictError):
    """Kept for compatibility: ``delete`` now deletes a key with keys below it on every
    backend (they stay), so the key/value calls no longer raise it."""


class OwnershipError(CoordkitError):
    """The caller does not (or no longer) hold the lock, leadership or fence it named."""
