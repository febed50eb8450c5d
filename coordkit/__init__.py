"""coordkit: service coordination for Python over ZooKeeper and etcd.

Registration and discovery, client-side load balancing, leader election, distributed
locks with fencing tokens and watched configuration, behind one API chosen by URL::

    import coordkit

    with coordkit.connect("etcd://127.0.0.1:2379") as client:
        client.put("/app/timeout", "5")
"""

from __future__ import annotations

from .backends.base import Check, Delete, Entry, EventType, Put, ServerInfo, WatchEvent
from .balancing import (
    Balancer,
    InstanceFailure,
    NoInstanceAvailableError,
    OutlierEjection,
    RetryBudget,
    StaticInstances,
    Strategy,
    by_metadata,
    by_zone,
    required,
    where,
)
from .client import Client, connect
from .config import Config, ConfigChanges, ConfigDiff, ConfigSnapshot, ConfigValidationError
from .core.security import TLS
from .core.session import Session, SessionEvent, SessionState
from .core.watch import WatchHandle
from .discovery.cache import RegistryCache, ServiceCache
from .discovery.instance import ServiceInstance
from .discovery.registry import Registration
from .errors import (
    AuthenticationError,
    BackendUnavailableError,
    ClosedError,
    CommitTooLargeError,
    ConfigurationError,
    ConflictError,
    CoordkitError,
    InvalidNameError,
    KeyExistsError,
    NotEmptyError,
    NotFoundError,
    OperationTimeoutError,
    OwnershipError,
    PermissionDeniedError,
    SessionLostError,
    TLSError,
    VersionConflictError,
)
from .recipes.election import Election, Leader
from .recipes.lock import Lock, RWLock, Semaphore

__version__ = "0.1.0"

__all__ = [
    "TLS",
    "AuthenticationError",
    "BackendUnavailableError",
    "Balancer",
    "Check",
    "Client",
    "ClosedError",
    "CommitTooLargeError",
    "Config",
    "ConfigChanges",
    "ConfigDiff",
    "ConfigSnapshot",
    "ConfigValidationError",
    "ConfigurationError",
    "ConflictError",
    "CoordkitError",
    "Delete",
    "Election",
    "Entry",
    "EventType",
    "InstanceFailure",
    "InvalidNameError",
    "KeyExistsError",
    "Leader",
    "Lock",
    "NoInstanceAvailableError",
    "NotEmptyError",
    "NotFoundError",
    "OperationTimeoutError",
    "OutlierEjection",
    "OwnershipError",
    "PermissionDeniedError",
    "Put",
    "RWLock",
    "Registration",
    "RegistryCache",
    "RetryBudget",
    "Semaphore",
    "ServerInfo",
    "ServiceCache",
    "ServiceInstance",
    "Session",
    "SessionEvent",
    "SessionLostError",
    "SessionState",
    "StaticInstances",
    "Strategy",
    "TLSError",
    "VersionConflictError",
    "WatchEvent",
    "WatchHandle",
    "__version__",
    "by_metadata",
    "by_zone",
    "connect",
    "required",
    "where",
]
