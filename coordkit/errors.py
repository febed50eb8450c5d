"""The coordkit error tree.

Errors are grouped by what the caller can do about them::

    CoordkitError
    ├── ConfigurationError (ValueError)      fix the call: bad URL, option or name
    │   ├── InvalidNameError
    │   ├── CommitTooLargeError               a commit over MAX_COMMIT_OPS ops or the byte
    │   │                                     limit: split it
    │   ├── ConfigValidationError             a setting does not fit the schema
    │   ├── AuthenticationError               the server refused who we say we are
    │   │   └── TLSError                      the TLS handshake failed (certificates)
    │   ├── PermissionDeniedError             this identity may not do that on that key
    │   └── WrongLoopError (RuntimeError)     an asyncio client used outside its own
    │                                         event loop (coordkit.aio): one client per loop
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
    ├── NoInstanceAvailableError (LookupError)  no live instance to pick: register one,
    │                                         loosen a required filter, or retry later
    ├── InstanceFormatError (ValueError)      a stored registration coordkit cannot read
    └── DevServerError                        a dev server could not be started, found
                                              or stopped (``coordkit dev``)
    InstanceFailure (Exception)               raise it from ``Balancer.call(fn)`` to say that
                                              the instance failed although no network error
                                              occurred (an HTTP 5xx, a "not ready" reply);
                                              not a CoordkitError: it is the caller's verdict

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
    "ConfigValidationError",
    "ConfigurationError",
    "ConflictError",
    "CoordkitError",
    "DevServerError",
    "InstanceFailure",
    "InstanceFormatError",
    "InvalidNameError",
    "KeyExistsError",
    "NoInstanceAvailableError",
    "NotEmptyError",
    "NotFoundError",
    "OperationTimeoutError",
    "OwnershipError",
    "PermissionDeniedError",
    "SessionLostError",
    "TLSError",
    "VersionConflictError",
    "WrongLoopError",
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


class ConfigValidationError(ConfigurationError):
    """A setting does not fit the schema. ``key`` names it (``""`` when the problem is the
    whole configuration, e.g. a ``__post_init__`` check) and ``problem`` says what is wrong."""

    def __init__(self, key: str, problem: str, *, app: str = "") -> None:
        where = f"config {app!r}: " if app else ""
        super().__init__(f"{where}{key + ': ' if key else ''}{problem}")
        self.key = key
        self.problem = problem
        self.app = app

    def for_app(self, app: str) -> ConfigValidationError:
        return ConfigValidationError(self.key, self.problem, app=app)


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


class WrongLoopError(ConfigurationError, RuntimeError):
    """A ``coordkit.aio`` client (or a handle of it) was used from an event loop or thread other
    than the one it was connected in: connect one client per event loop."""


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


class NoInstanceAvailableError(CoordkitError, LookupError):
    """A pick found no instance: none is registered, a required filter left none, or every
    candidate is ejected. ``service`` names the service; ``registered``, ``ejected`` say what
    the balancer saw. Retrying later may help (instances come and go)."""

    def __init__(
        self, service: str, *, registered: int = 0, candidates: int = 0, ejected: int = 0, stale: bool = False
    ) -> None:
        self.service = service
        self.registered = registered
        self.ejected = ejected
        if registered == 0:
            why = "no instance is registered"
        elif candidates == 0:
            why = f"{registered} registered but a required filter matches none of them"
        else:
            why = f"all {candidates} candidate instances are ejected as outliers"
        hint = " (the discovery backend is unreachable; this is the last known state)" if stale else ""
        super().__init__(
            f"no live instance of service {service!r}: {why}{hint}; "
            "register an instance, loosen the filters, or retry later"
        )


class InstanceFormatError(CoordkitError, ValueError):
    """A stored value that is not a service instance coordkit can use (discovery skips it)."""


class DevServerError(CoordkitError):
    """A dev server could not be started, found or stopped; the message says why and what to do."""


class InstanceFailure(Exception):
    """Raised by the function given to ``Balancer.call`` to say "this instance failed" for a
    reply that is not a network error (e.g. an HTTP 503). It counts towards outlier ejection
    and is retried on another instance, like a ``ConnectionError``."""
