"""What every HTTP adapter of coordkit decides the same way, whatever the HTTP library
(``requests`` in :mod:`.http`, ``httpx`` in :mod:`.httpx`): which hosts name a service, which
replies and errors count against an instance, which requests may be sent again to another
instance, how the instance's URL is built, and the per-service balancers made on first use.

A request that never reached an instance (connection refused, connect timeout) is retried
whatever its method; one that may have been processed (a 5xx reply, a reset, a read timeout)
only if its method is in ``retry_methods`` (idempotent ones by default) or it is marked
idempotent, and only with a body that can be sent again.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypedDict

from tenacity import Retrying, retry_if_exception, stop_after_attempt
from tenacity.retry import retry_all

from ..core.retry import AT_ONCE
from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError, InstanceFailure
from .balancer import Balancer, FailureSpec
from .budget import RetryBudget
from .ejection import OutlierEjection
from .filters import FilterSpec
from .strategies import Strategy, StrategyName

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "BalancerOptions",
    "Balancers",
    "ServerErrorResponse",
    "StrategySpec",
    "check_host_header",
    "default_retry",
    "instance_netloc",
    "is_direct_host",
    "may_retry",
    "strategy_for",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
StrategySpec = StrategyName | Callable[[], Strategy]


class ServerErrorResponse(InstanceFailure):
    """A 5xx reply, raised inside ``Balancer.call`` so that it counts against the instance.
    The adapter returns ``response`` to the caller when it is the last attempt."""

    def __init__(self, response: Any, status: int, url: object) -> None:
        super().__init__(f"HTTP {status} from {url}")
        self.response = response


class BalancerOptions(TypedDict, total=False):
    """The keyword options of :meth:`coordkit.Client.balancer`, for ``balancer_options``."""

    base: str
    filters: FilterSpec
    ejection: OutlierEjection | bool
    retry: Retrying | None
    budget: RetryBudget | bool
    failure: FailureSpec


def is_direct_host(host: str, port: int | None) -> bool:
    """Hosts sent as they are: an explicit port, an IP literal or ``localhost``."""
    if port is not None or host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_host_header(host_header: str) -> str:
    if host_header not in ("service", "instance"):
        raise ConfigurationError(f"host_header must be 'service' or 'instance', not {host_header!r}")
    return host_header


def instance_netloc(scheme: str, instance: ServiceInstance) -> tuple[str, int]:
    """The host (IPv6 in brackets) and port to send to: the SSL port for https if registered."""
    port = instance.ssl_port if scheme == "https" and instance.ssl_port else instance.port
    return (f"[{instance.address}]" if ":" in instance.address else instance.address), port


def default_retry() -> Retrying:
    """3 attempts, no wait: the next attempt goes to another instance."""
    return Retrying(stop=stop_after_attempt(3), wait=AT_ONCE, reraise=True)


def may_retry(
    retry: Retrying,
    *,
    replayable: bool,
    may_repeat: bool,
    never_sent: Callable[[BaseException], bool],
    transport_error: Callable[[BaseException], bool],
) -> Retrying:
    """``retry`` limited to what may be sent again (see the module docstring): ``replayable``
    says the body can be sent again, ``may_repeat`` that the request is idempotent."""

    def allowed(exc: BaseException) -> bool:
        if not replayable:
            return False
        if isinstance(exc, ServerErrorResponse):
            return may_repeat
        if never_sent(exc):
            return True
        return may_repeat and transport_error(exc)

    return retry.copy(retry=retry_all(retry.retry, retry_if_exception(allowed)))


def strategy_for(strategy: StrategySpec) -> StrategyName | Strategy:
    """A strategy name, or a new object from a factory (a strategy object serves one balancer)."""
    if callable(strategy) and not isinstance(strategy, Strategy):
        return strategy()
    return strategy


class Balancers:
    """Service name -> Balancer: the given ones, plus ones made through a sync client on first
    use (closed with :meth:`close`)."""

    def __init__(
        self,
        client: Store | None,
        given: Mapping[str, Balancer],
        services: Collection[str] | None,
        strategy: StrategySpec,
        options: BalancerOptions,
    ) -> None:
        self._client = client
        self._given = dict(given)
        self._made: dict[str, Balancer] = {}
        self._services = None if services is None else frozenset(services)
        self._strategy = strategy
        self._options = options
        self._lock = threading.Lock()

    def wanted(self, host: str) -> bool:
        """Whether ``host`` may name a service to discover (``services=`` when given)."""
        return self._services is None or host in self._services

    def resolve(self, host: str) -> Balancer | None:
        found = self._given.get(host) or self._made.get(host)
        if found is not None or self._client is None or not self.wanted(host):
            return found
        with self._lock:  # one cache per service even when threads race on first use
            if host not in self._made:
                self._made[host] = Balancer.for_service(
                    self._client, host, strategy_for(self._strategy), **self._options
                )
            return self._made[host]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for balancer in made:
            balancer.close()
