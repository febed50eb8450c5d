"""What counts as a failure of an instance: the default exception types, and how a user's
``failure=`` option (types, or a predicate) is read. Kept apart from the balancer so that
``coordkit.client`` can name the default without importing the balancer."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigurationError, InstanceFailure

__all__ = ["DEFAULT_FAILURES", "FailureSpec", "failure_predicate"]

#: What counts as a failure of the instance by default (requests' errors are OSErrors too).
DEFAULT_FAILURES: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, OSError, InstanceFailure)
FailureSpec = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def failure_predicate(spec: FailureSpec) -> Callable[[BaseException], bool]:
    """``spec`` as a predicate; ConfigurationError if it is neither types nor callable."""
    if isinstance(spec, (type, tuple)):
        types = spec
        return lambda exc: isinstance(exc, types)
    if callable(spec):
        return spec
    raise ConfigurationError(f"failure must be exception types or a predicate, not {spec!r}")
