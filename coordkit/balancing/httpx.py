"""HTTP through discovery and client-side load balancing, for ``httpx`` (sync and async).

::

    from coordkit.balancing.httpx import AsyncBalancedTransport

    transport = AsyncBalancedTransport(client, strategy="peak_ewma")  # a coordkit.aio client
    async with httpx.AsyncClient(transport=transport) as http:
        await http.post("http://payment-service/payment", json={...})

:class:`BalancedTransport` does the same for ``httpx.Client`` over a sync coordkit client. The
host of the URL names the service; each request goes to an instance picked by that service's
balancer (one per service, made on first use, closed with the transport), and its outcome
and latency feed the balancer's strategy and ejection. What counts as a failure, what is
retried on another instance and which hosts are sent unchanged are the rules of the
``requests`` adapter (:mod:`coordkit.balancing.http_rules`); a request is also retried after
it may have been processed when marked ``extensions={"idempotent": True}``. When the retries
are used up the caller gets the last 5xx response (its body read), or the last httpx exception.

``httpx`` is an optional dependency: ``pip install 'coordkit[httpx]'``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Collection, Mapping
from typing import Any, cast

try:
    import httpx
except ImportError as exc:  # the optional extra is not installed
    raise ImportError(
        "coordkit.balancing.httpx needs the 'httpx' package; install it with pip install 'coordkit[httpx]'"
    ) from exc
from tenacity import Retrying

from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError, InstanceFailure, NoInstanceAvailableError
from .awaited import call_awaited
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
    strategy_for,
)

__all__ = ["AsyncBalancedTransport", "BalancedTransport", "NoInstanceForRequest", "TransportFailure"]


class TransportFailure(InstanceFailure):
    """An httpx transport error on ``instance``, inside ``Balancer.call`` (so that it counts
    against the instance whatever the balancer's ``failure`` option); the caller gets ``error``
    itself, whose ``request`` is the one sent to the instance (its URL names the instance)."""

    def __init__(self, error: httpx.TransportError, instance: ServiceInstance) -> None:
        super().__init__(f"{type(error).__name__} from {instance.endpoint}: {error}")
        self.error, self.instance = error, instance


class NoInstanceForRequest(NoInstanceAvailableError, httpx.ConnectError):
    """The URL's service has no instance in rotation: both a coordkit NoInstanceAvailableError
    and an ``httpx.ConnectError`` (what an unknown host gives)."""

    def __init__(self, error: NoInstanceAvailableError, request: httpx.Request) -> None:
        httpx.ConnectError.__init__(self, str(error), request=request)
        self.service, self.registered, self.ejected = error.service, error.registered, error.ejected


def _never_sent(exc: BaseException) -> bool:
    return isinstance(exc, TransportFailure) and isinstance(
        exc.error, (httpx.ConnectError, httpx.ConnectTimeout)
    )


class _Rules:
    """The per-request decisions both transports share."""

    def __init__(
        self,
        host_header: str,
        retry: Retrying | None,
        retry_methods: Collection[str],
        retry_statuses: Collection[int],
        key: Callable[[httpx.Request], object] | None,
    ) -> None:
        self.host_header = check_host_header(host_header)
        self.retry = retry or default_retry()
        self.retry_methods = frozenset(m.upper() for m in retry_methods)
        self.retry_statuses = frozenset(retry_statuses)
        self.key = key

    def service(self, request: httpx.Request) -> str | None:
        host, port = request.url.host, request.url.port
        return None if is_direct_host(host, port) else host

    def policy(self, request: httpx.Request) -> Retrying:
        replayable = isinstance(request.stream, httpx.ByteStream)
        marked = bool(request.extensions.get("idempotent"))
        return may_retry(
            self.retry,
            replayable=replayable,
            may_repeat=replayable and (marked or request.method.upper() in self.retry_methods),
            never_sent=_never_sent,
            transport_error=lambda exc: isinstance(exc, TransportFailure),
        )

    def to_instance(self, request: httpx.Request, instance: ServiceInstance) -> httpx.Request:
        host, port = instance_netloc(request.url.scheme, instance)
        headers = request.headers.copy()
        if self.host_header == "instance":
            headers["Host"] = f"{host}:{port}"
        url = request.url.copy_with(host=host.strip("[]"), port=port)
        return httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=request.extensions
        )

    def checked(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        response.request = request  # the URL the caller asked for (redirects balance again)
        if response.status_code in self.retry_statuses:
            raise ServerErrorResponse(response, response.status_code, request.url)
        return response


class BalancedTransport(httpx.BaseTransport):
    """An ``httpx.Client`` transport sending ``http://service/...`` to instances picked by a
    balancer (see the module docstring). ``client``: a sync coordkit client (balancers made on
    first use with ``client.balancer(name, strategy, **balancer_options)``), and/or ready
    ``balancers`` by service name. ``transport`` sends to the instance (default
    ``httpx.HTTPTransport()``). Other options as :class:`coordkit.balancing.http.BalancedSession`."""

    def __init__(
        self,
        client: Any = None,
        *,
        strategy: StrategySpec = "round_robin",
        balancers: Mapping[str, Balancer] | None = None,
        services: Collection[str] | None = None,
        balancer_options: BalancerOptions | None = None,
        host_header: str = "service",
        retry: Retrying | None = None,
        retry_methods: Collection[str] = IDEMPOTENT_METHODS,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        key: Callable[[httpx.Request], object] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if client is None and not balancers:
            raise ConfigurationError(
                "BalancedTransport needs a coordkit client, or balancers by service name"
            )
        if client is not None and inspect.iscoroutinefunction(getattr(client, "aclose", None)):
            raise ConfigurationError(
                "BalancedTransport takes a sync coordkit client; use AsyncBalancedTransport"
            )
        self._rules = _Rules(host_header, retry, retry_methods, retry_statuses, key)
        self._balancers = Balancers(client, balancers or {}, services, strategy, balancer_options or {})
        self._transport = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to a picked instance, retrying elsewhere as the rules allow. Raises
        NoInstanceForRequest when the service has none in rotation, else httpx's errors."""
        service = self._rules.service(request)
        balancer = None if service is None else self._balancers.resolve(service)
        if balancer is None:
            return self._transport.handle_request(request)
        failed: list[httpx.Response] = []

        def attempt(instance: ServiceInstance) -> httpx.Response:
            for old in failed:  # release the connection of a 5xx we are retrying
                old.close()
            failed.clear()
            sent = self._rules.to_instance(request, instance)
            try:
                response = self._transport.handle_request(sent)
            except httpx.TransportError as error:
                error.request = sent
                raise TransportFailure(error, instance) from error
            if response.status_code in self._rules.retry_statuses:
                response.read()  # a 5xx body is small, and what the caller or a retry hook reads
            try:
                return self._rules.checked(request, response)
            except ServerErrorResponse:
                failed.append(response)
                raise

        key = self._rules.key(request) if self._rules.key is not None else None
        try:
            return balancer.call(attempt, key=key, retry=self._rules.policy(request))
        except ServerErrorResponse as error:
            return cast(httpx.Response, error.response)
        except TransportFailure as failure:
            raise failure.error from None
        except NoInstanceAvailableError as error:
            raise NoInstanceForRequest(error, request) from None

    def close(self) -> None:
        """Close the inner transport and the balancers this transport made."""
        self._transport.close()
        self._balancers.close()


class AsyncBalancedTransport(httpx.AsyncBaseTransport):
    """The :class:`BalancedTransport` of ``httpx.AsyncClient``. ``client``: a
    :mod:`coordkit.aio` client (balancers made on first use with ``await client.balancer(...)``,
    the cache following the store on the loop) or a sync coordkit client; the same options.
    Waiting for a response or a retry holds no thread."""

    def __init__(
        self,
        client: Any = None,
        *,
        strategy: StrategySpec = "round_robin",
        balancers: Mapping[str, Balancer] | None = None,
        services: Collection[str] | None = None,
        balancer_options: BalancerOptions | None = None,
        host_header: str = "service",
        retry: Retrying | None = None,
        retry_methods: Collection[str] = IDEMPOTENT_METHODS,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        key: Callable[[httpx.Request], object] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if client is None and not balancers:
            raise ConfigurationError(
                "AsyncBalancedTransport needs a coordkit client, or balancers by service name"
            )
        self._rules = _Rules(host_header, retry, retry_methods, retry_statuses, key)
        self._client = client
        self._strategy = strategy
        self._options: BalancerOptions = balancer_options or {}
        self._given = dict(balancers or {})
        self._wanted = Balancers(None, {}, services, strategy, {}).wanted
        self._made: dict[str, tuple[Balancer, Any]] = {}  # service -> (balancer, what closes it)
        self._making = asyncio.Lock()  # one cache per service when requests race on first use
        self._transport = transport or httpx.AsyncHTTPTransport()

    async def _resolve(self, host: str) -> Balancer | None:
        found = self._given.get(host) or self._made.get(host, (None, None))[0]
        if found is not None or self._client is None or not self._wanted(host):
            return found
        async with self._making:
            if host not in self._made:
                strategy = strategy_for(self._strategy)
                if inspect.iscoroutinefunction(getattr(self._client, "aclose", None)):  # coordkit.aio
                    owner = await self._client.balancer(host, strategy, **self._options)
                    self._made[host] = (owner.sync, owner)
                else:  # a sync client: its cache's initial read on a thread, not on the loop
                    from ..aio.threads import blocking  # the async API's, only where it is used

                    options, client = self._options, self._client
                    made = await blocking(
                        lambda: client.balancer(host, strategy, **options),
                        name=f"coordkit-httpx-balancer {host}",
                        orphaned=Balancer.close,  # a request cancelled meanwhile leaves no cache open
                    )
                    self._made[host] = (made, made)
            return self._made[host][0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """As :meth:`BalancedTransport.handle_request`, awaited."""
        service = self._rules.service(request)
        balancer = None if service is None else await self._resolve(service)
        if balancer is None:
            return await self._transport.handle_async_request(request)
        failed: list[httpx.Response] = []

        async def attempt(instance: ServiceInstance) -> httpx.Response:
            for old in failed:
                await old.aclose()
            failed.clear()
            sent = self._rules.to_instance(request, instance)
            try:
                response = await self._transport.handle_async_request(sent)
            except httpx.TransportError as error:
                error.request = sent
                raise TransportFailure(error, instance) from error
            if response.status_code in self._rules.retry_statuses:
                await response.aread()  # a 5xx body is small, and what the caller or a retry hook reads
            try:
                return self._rules.checked(request, response)
            except ServerErrorResponse:
                failed.append(response)
                raise

        key = self._rules.key(request) if self._rules.key is not None else None
        try:
            return await call_awaited(balancer, attempt, key=key, retry=self._rules.policy(request))
        except ServerErrorResponse as error:
            return cast(httpx.Response, error.response)
        except TransportFailure as failure:
            raise failure.error from None
        except NoInstanceAvailableError as error:
            raise NoInstanceForRequest(error, request) from None

    async def aclose(self) -> None:
        """Close the inner transport and the balancers this transport made."""
        await self._transport.aclose()
        made, self._made = list(self._made.values()), {}
        for _, owner in made:
            closing = owner.aclose() if hasattr(owner, "aclose") else owner.close()
            if inspect.isawaitable(closing):
                await closing
