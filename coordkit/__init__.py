"""coordkit: service coordination for Python over ZooKeeper and etcd.

Registration and discovery, client-side load balancing, leader election, distributed
locks with fencing tokens and watched configuration, behind one API chosen by URL::

    import coordkit

    with coordkit.connect("etcd://127.0.0.1:2379") as client:
        client.put("/app/timeout", "5")
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core.exports import lazy_exports
from .errors import (
    AuthenticationError,
    BackendUnavailableError,
    ClosedError,
    CommitTooLargeError,
    ConfigurationError,
    ConfigValidationError,
    ConflictError,
    CoordkitError,
    InstanceFailure,
    InvalidNameError,
    KeyExistsError,
    NoInstanceAvailableError,
    NotEmptyError,
    NotFoundError,
    OperationTimeoutError,
    OwnershipError,
    PermissionDeniedError,
    SessionLostError,
    TLSError,
    VersionConflictError,
)

if TYPE_CHECKING:
    from .backends.base import Check, Delete, Entry, EventType, Put, WatchEvent
    from .backends.server_info import ServerInfo
    from .balancing import (
        Balancer,
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
    from .config import Config, ConfigChanges, ConfigDiff, ConfigSnapshot
    from .core.security import TLS
    from .core.session import Session, SessionEvent, SessionState
    from .core.watch import WatchHandle
    from .discovery.cache import RegistryCache, ServiceCache
    from .discovery.instance import ServiceInstance
    from .discovery.registry import Registration
    from .recipes.election import Election, Leader
    from .recipes.lock import Lock, RWLock, Semaphore

# Each public name and the module that defines it, imported on first use (see coordkit.core.exports).
_EXPORTS = {
    "Balancer": ".balancing",
    "Check": ".backends.base",
    "Client": ".client",
    "Config": ".config",
    "ConfigChanges": ".config",
    "ConfigDiff": ".config",
    "ConfigSnapshot": ".config",
    "Delete": ".backends.base",
    "Election": ".recipes.election",
    "Entry": ".backends.base",
    "EventType": ".backends.base",
    "Leader": ".recipes.election",
    "Lock": ".recipes.lock",
    "OutlierEjection": ".balancing",
    "Put": ".backends.base",
    "RWLock": ".recipes.lock",
    "Registration": ".discovery.registry",
    "RegistryCache": ".discovery.cache",
    "RetryBudget": ".balancing",
    "Semaphore": ".recipes.lock",
    "ServerInfo": ".backends.server_info",
    "ServiceCache": ".discovery.cache",
    "ServiceInstance": ".discovery.instance",
    "Session": ".core.session",
    "SessionEvent": ".core.session",
    "SessionState": ".core.session",
    "StaticInstances": ".balancing",
    "Strategy": ".balancing",
    "TLS": ".core.security",
    "WatchEvent": ".backends.base",
    "WatchHandle": ".core.watch",
    "by_metadata": ".balancing",
    "by_zone": ".balancing",
    "connect": ".client",
    "required": ".balancing",
    "where": ".balancing",
}
if not TYPE_CHECKING:  # type checkers read the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
