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
    "__version__",
    "connect",
    "Client",
    "Session",
    "SessionState",
    "SessionEvent",
    "Entry",
    "EventType",
    "WatchEvent",
    "WatchHandle",
    "Check",
    "Put",
    "Delete",
    "ServerInfo",
    "Config",
    "ConfigSnapshot",
    "ConfigChanges",
    "ConfigDiff",
    "ConfigValidationError",
    "Lock",
    "Semaphore",
    "RWLock",
    "Election",
    "Leader",
    "ServiceInstance",
    "Registration",
    "ServiceCache",
    "RegistryCache",
    "Balancer",
    "Strategy",
    "StaticInstances",
    "OutlierEjection",
    "RetryBudget",
    "InstanceFailure",
    "by_zone",
    "by_metadata",
    "required",
    "where",
    "CoordkitError",
    "ConfigurationError",
    "InvalidNameError",
    "BackendUnavailableError",
    "OperationTimeoutError",
    "SessionLostError",
    "ClosedError",
    "NotFoundError",
    "ConflictError",
    "KeyExistsError",
    "VersionConflictError",
    "NotEmptyError",
    "OwnershipError",
    "NoInstanceAvailableError",
    "TLS",
    "AuthenticationError",
    "TLSError",
    "PermissionDeniedError",
    "CommitTooLargeError",
]
