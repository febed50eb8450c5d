"""Client-side load balancing over a discovery cache.

``client.balancer("payment-service", "peak_ewma")`` returns a :class:`Balancer` over the live
instances of a service; ``balancer.pick()`` returns one, ``balancer.call(fn)`` runs
``fn(instance)`` with outcome tracking, outlier ejection and retries on another instance.
:mod:`coordkit.balancing.http` plugs a balancer into ``requests`` (extra ``coordkit[http]``),
:mod:`coordkit.balancing.httpx` into ``httpx.Client`` and ``httpx.AsyncClient`` (``coordkit[httpx]``).
"""

from ..errors import InstanceFailure, NoInstanceAvailableError
from .balancer import DEFAULT_FAILURES, STRATEGIES, Balancer, make_strategy
from .budget import RetryBudget, retry_if_budget
from .ejection import OutlierEjection
from .filters import Filter, by_metadata, by_zone, required, where
from .hashring import ConsistentHash
from .source import InstanceSource, StaticInstances
from .strategies import LeastOutstanding, PeakEwma, RandomChoice, RoundRobin, Strategy, StrategyName, Weighted

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
