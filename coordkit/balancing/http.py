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

from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

try:
    import requests
    from requests.adapters import DEFAULT_POOLBLOCK, DEFAULT_POOLSIZE, DEFAULT_RETRIES, HTTPAdapter
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        "coordkit.balancing.http needs the 'requests' package; install it with pip install 'coordkit[http]'"
    ) from exc
from tenacity import Retrying

from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError, NoInstanceAvailableError
from .balancer import Balancer
from .http_rules import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    BalancerOptions,
    Balancers,
    ServerErrorResponse,
    StrategySpec,
    check_host_header,
    default_retry,
    instance_netloc,
    is_direct_host,
    may_retry,
)

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

Resolver = Callable[[str], "Balancer | None"]


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
        check_host_header(host_header)
        super().__init__(
            pool_connections=pool_connections,
            pool_maxsize=pool_maxsize,
            max_retries=max_retries,
            pool_block=pool_block,
        )
        self._resolve = resolve
        self._host_header = host_header
        self._retry = retry or default_retry()
        self._retry_methods = frozenset(m.upper() for m in retry_methods)
        self._retry_statuses = frozenset(retry_statuses)
        self._key = key

    def _retrying(self, request: requests.PreparedRequest) -> Retrying:
        replayable = request.body is None or isinstance(request.body, (bytes, str))
        may_repeat = replayable and (request.method or "GET").upper() in self._retry_methods
        return may_retry(
            self._retry,
            replayable=replayable,
            may_repeat=may_repeat,
            never_sent=_never_sent,
            transport_error=lambda exc: isinstance(exc, (requests.ConnectionError, requests.Timeout)),
        )

    def _instance_request(
        self, request: requests.PreparedRequest, instance: ServiceInstance
    ) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        host, port = instance_netloc(parts.scheme, instance)
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
                raise ServerErrorResponse(response, response.status_code, response.url)
            return response

        key = self._key(request) if self._key is not None else None
        try:
            return balancer.call(attempt, key=key, retry=self._retrying(request))
        except ServerErrorResponse as error:
            return cast(requests.Response, error.response)
        except NoInstanceAvailableError as error:
            raise NoInstanceForRequest(error, request) from None


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
        strategy: StrategySpec = "round_robin",
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
        self._balancers = Balancers(client, balancers or {}, services, strategy, balancer_options or {})
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
