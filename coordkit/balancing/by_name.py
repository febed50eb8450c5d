"""The load-balancing strategies a balancer takes by name (``strategy="round_robin"``)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigurationError
from .hashring import ConsistentHash
from .strategies import LeastOutstanding, PeakEwma, RandomChoice, RoundRobin, Strategy, StrategyName, Weighted

__all__ = ["STRATEGIES", "make_strategy"]

STRATEGIES: dict[StrategyName, Callable[[], Strategy]] = {
    "round_robin": RoundRobin,
    "random": RandomChoice,
    "weighted": Weighted,
    "least_outstanding": LeastOutstanding,
    "peak_ewma": PeakEwma,
    "consistent_hash": ConsistentHash,
}


def make_strategy(spec: StrategyName | Strategy) -> Strategy:
    """A fresh strategy for a name in :data:`STRATEGIES`, or ``spec`` itself if it is one.
    Raises ConfigurationError for any other value (type-checkers refuse it already)."""
    if isinstance(spec, Strategy):
        return spec
    factory = STRATEGIES.get(spec) if isinstance(spec, str) else None
    if factory is None:
        raise ConfigurationError(
            f"unknown balancing strategy {spec!r}; use one of {', '.join(sorted(STRATEGIES))} "
            "or pass a coordkit.balancing.Strategy object"
        )
    return factory()
