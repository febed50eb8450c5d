"""Client-side load balancing over a discovery cache.

``client.balancer("payment-service", "peak_ewma")`` returns a :class:`Balancer` over the live
instances of a service; ``balancer.pick()`` returns one, ``balancer.call(fn)`` runs
``fn(instance)`` with outcome tracking, outlier ejection and retries on another instance.
:mod:`coordkit.balancing.http` plugs a balancer into ``requests`` (extra ``coordkit[http]``),
:mod:`coordkit.balancing.httpx` into ``httpx.Client`` and ``httpx.AsyncClient`` (``coordkit[httpx]``).
"""

from typing import TYPE_CHECKING

from ..core.exports import lazy_exports
from ..errors import InstanceFailure, NoInstanceAvailableError

if TYPE_CHECKING:
    from .balancer import STRATEGIES, Balancer, make_strategy
    from .budget import RetryBudget, retry_if_budget
    from .ejection import OutlierEjection
    from .failures import DEFAULT_FAILURES
    from .filters import Filter, by_metadata, by_zone, required, where
    from .hashring import ConsistentHash
    from .source import InstanceSource, StaticInstances
    from .strategies import (
        LeastOutstanding,
        PeakEwma,
        RandomChoice,
        RoundRobin,
        Strategy,
        StrategyName,
        Weighted,
    )

# Each public name and the module that defines it, imported on first use (see coordkit.core.exports).
_EXPORTS = {
    "Balancer": ".balancer",
    "ConsistentHash": ".hashring",
    "DEFAULT_FAILURES": ".failures",
    "Filter": ".filters",
    "InstanceSource": ".source",
    "LeastOutstanding": ".strategies",
    "OutlierEjection": ".ejection",
    "PeakEwma": ".strategies",
    "RandomChoice": ".strategies",
    "RetryBudget": ".budget",
    "RoundRobin": ".strategies",
    "STRATEGIES": ".balancer",
    "StaticInstances": ".source",
    "Strategy": ".strategies",
    "StrategyName": ".strategies",
    "Weighted": ".strategies",
    "by_metadata": ".filters",
    "by_zone": ".filters",
    "make_strategy": ".balancer",
    "required": ".filters",
    "retry_if_budget": ".budget",
    "where": ".filters",
}
if not TYPE_CHECKING:  # type checkers read the imports above
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DEFAULT_FAILURES",
    "STRATEGIES",
    "Balancer",
    "ConsistentHash",
    "Filter",
    "InstanceFailure",
    "InstanceSource",
    "LeastOutstanding",
    "NoInstanceAvailableError",
    "OutlierEjection",
    "PeakEwma",
    "RandomChoice",
    "RetryBudget",
    "RoundRobin",
    "StaticInstances",
    "Strategy",
    "StrategyName",
    "Weighted",
    "by_metadata",
    "by_zone",
    "make_strategy",
    "required",
    "retry_if_budget",
    "where",
]
