"""Errors of the balancing layer (they join coordkit's error tree).

::

    CoordkitError
    └── NoInstanceAvailableError (LookupError)   no live instance to pick: start or register one,
                                                 loosen a required filter, or wait for ejections
    InstanceFailure (Exception)                  raise it from ``call(fn)`` to declare that the
                                                 instance failed although no network error occurred
                                                 (an HTTP 5xx, a "not ready" reply)
"""

from __future__ import annotations

from ..errors import CoordkitError

__all__ = ["InstanceFailure", "NoInstanceAvailableError"]


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


class InstanceFailure(Exception):
    """Raised by the function given to ``Balancer.call`` to say "this instance failed" for a
    reply that is not a network error (e.g. an HTTP 503). It counts towards outlier ejection
    and is retried on another instance, like a ``ConnectionError``."""
