"""The public surface is exactly what coordkit.__all__ says; a change here is deliberate."""

from __future__ import annotations

import coordkit

EXPECTED = {
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
    "Lock",
    "Semaphore",
    "RWLock",
    "Election",
    "Leader",
    "Config",
    "ConfigSnapshot",
    "ConfigChanges",
    "ConfigDiff",
    "ConfigValidationError",
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
    "CommitTooLargeError",
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
    "NoInstanceAvailableError",
    "TLS",
    "AuthenticationError",
    "TLSError",
    "PermissionDeniedError",
}


def test_all_is_pinned() -> None:
    assert set(coordkit.__all__) == EXPECTED
    for name in coordkit.__all__:
        assert hasattr(coordkit, name), name


def test_errors_subclass_the_builtins_they_mean() -> None:
    assert issubclass(coordkit.OperationTimeoutError, TimeoutError)
    assert issubclass(coordkit.BackendUnavailableError, ConnectionError)
    assert issubclass(coordkit.ConfigurationError, ValueError)
    assert issubclass(coordkit.NotFoundError, KeyError)
    assert all(
        issubclass(getattr(coordkit, n), coordkit.CoordkitError)
        for n in EXPECTED
        if n.endswith("Error") and n != "CoordkitError"
    )
    assert issubclass(coordkit.NoInstanceAvailableError, LookupError)


def test_importing_coordkit_imports_no_backend_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, coordkit; c = coordkit.connect('memory://'); c.close(); "
        "print(sorted(m for m in ('kazoo', 'etcd3', 'grpc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
