"""HTTP through discovery and client-side load balancing, for ``requests``.

The seed's call ``requests.post("http://payment-service/payment", json=...)`` becomes::

    from coordkit.balancing.http import BalancedSession

    with BalancedSession(client, strategy="peak_ewma") as http:
        http.post("http://payment-service/payment", json={...})

The host of the URL names the service; each request goes to an instance picked by that
service's :class:`~coordkit.balancing.Balancer` (one per service, made on first use, closed
with the session). Connection errors, timeouts and 5xx replies count against the instance
(outlier ejection) and are retried on another instance: a request that never reached an
instance (connect refused or timed out) is retried whatever its method; one that may have
been processed (5xx, reset, read timeout) only for the methods in ``retry_methods``
(idempotent ones by default) and only with a replayable body. When the retries are used up
the caller gets the last 5xx response, as without the balancer, or the last exception.

URLs with an explicit port, an IP address or ``localhost`` as host are sent unchanged (and
so are hosts outside ``services=`` when given). The ``Host`` header keeps the service name
(``host_header="service"``, what a proxy in front of the service would pass on) or names the
instance's ``address:port`` (``host_header="instance"``). ``response.url`` is the URL the
caller asked for, so relative redirects go through the balancer again.

``requests`` is an optional dependency: ``pip install 'coordkit[http]'``.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import urlsplit, urlunsplit

try:
    import requests
    from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        "coordkit.balancing.http needs the 'requests' package; install it with pip install 'coordkit[http]'"
    ) from exc
from tenacity import Retrying, retry_if_exception, stop_after_attempt
from tenacity.retry import retry_all

from ..core.retry import AT_ONCE
from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError, InstanceFailure, NoInstanceAvailableError
from .balancer import Balancer, FailureSpec
from .budget import RetryBudget
from .ejection import OutlierEjection
from .filters import FilterSpec
from .strategies import Strategy, StrategyName

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = [
    "IDEMPOTENT_METHODS",
    "BalancedSession",
    "BalancerOptions",
    "BalancingAdapter",
    "NoInstanceForRequest",
    "ServerErrorResponse",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
Resolver = Callable[[str], "Balancer | None"]


class ServerErrorResponse(InstanceFailure):
    """A 5xx reply, raised inside ``Balancer.call`` so that it counts against the instance.
    The adapter returns ``response`` to the caller when it is the last attempt."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.url}")
        self.response = response


class NoInstanceForRequest(NoInstanceAvailableError, requests.ConnectionError):
    """The URL's service has no instance in rotation. Both a coordkit
    :class:`NoInstanceAvailableError` and a ``requests.ConnectionError`` (what an unknown
    host gives), so existing ``except requests.RequestException`` handlers still apply."""

    def __init__(self, error: NoInstanceAvailableError, request: requests.PreparedRequest) -> None:
        Exception.__init__(self, str(error))
        self.service, self.registered, self.ejected = error.service, error.registered, error.ejected
        self.request, self.response = request, None


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached the instance (safe to retry any method)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


def is_direct_host(host: str, port: int | None) -> bool:
    """Hosts sent as they are: an explicit port, an IP literal or ``localhost``."""
    if port is not None or host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class BalancerOptions(TypedDict, total=False):
    """The keyword options of :meth:`coordkit.Client.balancer`, for ``balancer_options``."""

    base: str
    filters: FilterSpec
    ejection: OutlierEjection | bool
    retry: Retrying | None
    budget: RetryBudget | bool
    failure: FailureSpec


class BalancingAdapter(HTTPAdapter):
    """A transport adapter that sends each request to an instance picked by a balancer.

    ``resolve(host)`` returns the :class:`Balancer` for a service name, or None to send the
    request unchanged. ``retry`` is a tenacity ``Retrying`` whose stop and wait are used
    (default: 3 attempts, no wait); the adapter adds which failures may be retried (see the
    module docstring). ``key(request)`` gives the consistent-hash key of a request.
    ``pool_connections``, ``pool_maxsize``, ``max_retries`` and ``pool_block`` go to
    ``requests.adapters.HTTPAdapter`` (with its defaults).
    """

    def __init__(
        self,
        resolve: Resolver,
        *,
        host_header: str = "service",
        retry: Retrying | None = None,
        retry_methods: Collection[str] = IDEMPOTENT_METHODS,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        key: Callable[[requests.PreparedRequest], object] | None = None,
        pool_connections: int = DEFAULT_POOLSIZE,
        pool_maxsize: int = DEFAULT_POOLSIZE,
        max_retries: Any = DEFAULT_RETRIES,
        pool_block: bool = DEFAULT_POOLBLOCK,
    ) -> None:
        if host_header not in ("service", "instance"):
            raise ConfigurationError(f"host_header must be 'service' or 'instance', not {host_header!r}")
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=max_retries,
            pool_block=pool_block,
        )
        self._resolve = resolve
        self._host_header = host_header
        self._retry = retry or Retrying(stop=stop_after_attempt(3), wait=AT_ONCE, reraise=True)
        self._retry_methods = frozenset(m.upper() for m in retry_methods)
        self._retry_statuses = frozenset(retry_statuses)
        self._key = key

    def _retrying(self, request: requests.PreparedRequest) -> Retrying:
        replayable = request.body is None or isinstance(request.body, (bytes, str))
        may_repeat = replayable and (request.method or "GET").upper() in self._retry_methods

        def allowed(exc: BaseException) -> bool:
            if not replayable:
                return False
            if isinstance(exc, ServerErrorResponse):
                return may_repeat
            if _never_sent(exc):
                return True
            return may_repeat and isinstance(exc, (requests.ConnectionError, requests.Timeout))

        return self._retry.copy(retry=retry_all(self._retry.retry, retry_if_exception(allowed)))

    def _instance_request(
        self, request: requests.PreparedRequest, instance: ServiceInstance
    ) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        port = instance.ssl_port if parts.scheme == "https" and instance.ssl_port else instance.port
        host = f"[{instance.address}]" if ":" in instance.address else instance.address
        prepared = request.copy()
        prepared.url = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, parts.fragment))
        if self._host_header == "service" and "Host" not in prepared.headers:
            prepared.headers["Host"] = parts.hostname or ""
        return prepared

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Send ``request`` to a picked instance, retrying elsewhere as described above.

        Raises NoInstanceForRequest when the service has no instance in rotation, and
        requests' own exceptions when every allowed attempt failed with one.
        """
        options = {"stream": stream, "timeout": timeout, "verify": verify, "cert": cert, "proxies": proxies}
        parts = urlsplit(request.url or "")
        balancer = (
            None if is_direct_host(parts.hostname or "", parts.port) else self._resolve(parts.hostname or "")
        )
        if balancer is None:
            return super().send(request, **options)
        failed: list[requests.Response] = []

        def attempt(instance: ServiceInstance) -> requests.Response:
            for old in failed:  # release the connection of a 5xx we are retrying
                old.close()
            failed.clear()
            response = HTTPAdapter.send(self, self._instance_request(request, instance), **options)
            response.url, response.request = request.url or "", request
            if response.status_code in self._retry_statuses:
                failed.append(response)
                raise ServerErrorResponse(response)
            return response

        key = self._key(request) if self._key is not None else None
        try:
            return balancer.call(attempt, key=key, retry=self._retrying(request))
        except ServerErrorResponse as error:
            return error.response
        except NoInstanceAvailableError as error:
            raise NoInstanceForRequest(error, request) from None


class _Balancers:
    """Service name -> Balancer: the given ones, plus ones made through the client on first
    use (closed with the session)."""

    def __init__(
        self,
        client: Store | None,
        given: Mapping[str, Balancer],
        services: Collection[str] | None,
        strategy: StrategyName | Callable[[], Strategy],
        options: BalancerOptions,
    ) -> None:
        self._client = client
        self._given = dict(given)
        self._made: dict[str, Balancer] = {}
        self._services = None if services is None else frozenset(services)
        self._strategy = strategy
        self._options = options
        self._lock = threading.Lock()

    def resolve(self, host: str) -> Balancer | None:
        found = self._given.get(host) or self._made.get(host)
        if found is not None or self._client is None:
            return found
        if self._services is not None and host not in self._services:
            return None
        with self._lock:  # one cache per service even when threads race on first use
            if host not in self._made:
                strategy = (
                    self._strategy()
                    if callable(self._strategy) and not isinstance(self._strategy, Strategy)
                    else self._strategy
                )
                self._made[host] = Balancer.for_service(self._client, host, strategy, **self._options)
            return self._made[host]

    def close(self) -> None:
        with self._lock:
            made, self._made = list(self._made.values()), {}
        for balancer in made:
            balancer.close()


class BalancedSession(requests.Session):
    """A ``requests.Session`` whose ``http://service-name/...`` URLs go through discovery
    and client-side load balancing (see the module docstring).

    Give a ``client`` (balancers are made per service with ``client.balancer(name, strategy,
    **balancer_options)`` on first use) and/or ready ``balancers`` by service name.
    ``strategy`` may be a name or a zero-argument factory of Strategy objects (a strategy
    object serves one balancer). ``services`` limits which hosts are treated as service
    names. ``balancer_options`` are :meth:`coordkit.Client.balancer`'s keyword options
    (:class:`BalancerOptions`). The other options go to :class:`BalancingAdapter`. Closing
    the session closes the balancers it made (not the given ones).
    """

    def __init__(
        self,
        client: Store | None = None,
        *,
        balancers: Mapping[str, Balancer] | None = None,
        strategy: StrategyName | Callable[[], Strategy] = "round_robin",
        services: Collection[str] | None = None,
        balancer_options: BalancerOptions | None = None,
        host_header: str = "service",
        retry: Retrying | None = None,
        retry_methods: Collection[str] = IDEMPOTENT_METHODS,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        key: Callable[[requests.PreparedRequest], object] | None = None,
        pool_connections: int = DEFAULT_POOLSIZE,
        pool_maxsize: int = DEFAULT_POOLSIZE,
        max_retries: Any = DEFAULT_RETRIES,
        pool_block: bool = DEFAULT_POOLBLOCK,
    ) -> None:
        if client is None and not balancers:
            raise ConfigurationError("BalancedSession needs a client, or balancers by service name")
        super().__init__()
        self._balancers = _Balancers(client, balancers or {}, services, strategy, balancer_options or {})
        adapter = BalancingAdapter(
            self._balancers.resolve,
            host_header=host_header,
            retry=retry,
            retry_methods=retry_methods,
            retry_statuses=retry_statuses,
            key=key,
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=max_retries,
            pool_block=pool_block,
        )
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def close(self) -> None:
        """Close the connection pools and the balancers this session made."""
        super().close()
        self._balancers.close()
