"""order-service for asyncio: the twin of :mod:`examples.order_service` on Starlette + uvicorn.

    PORT=8080 ORDER_DB_PATH=orders.sqlite3 COORDKIT_URL=etcd://127.0.0.1:2379/example \\
        python -m examples.order_service_async

The same HTTP API, database, configuration and guarantees as the threaded service (see its
docstring), on one event loop: the lock ``orders/<order_id>`` is a :mod:`coordkit.aio` lock (a
request waiting for it holds no thread), every database write carries its fencing token, and
payment-service is called as ``http://payment-service/payment`` through httpx with coordkit's
``AsyncBalancedTransport`` over an :class:`~coordkit.aio.AsyncBalancer` (discovery by watch,
outcome and latency fed to the strategy, a failed attempt retried on another instance; POST
too, as payment-service charges each order id once). Live configuration is read through the
client's core store (``coordkit.Config``) until coordkit.aio has its own.

Needs the ``examples`` extra: ``pip install 'coordkit[examples]'`` (starlette, uvicorn, httpx).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_none,
)
from tenacity import wait_random_exponential as backoff

import coordkit
import coordkit.aio
from coordkit.balancing.http_rules import IDEMPOTENT_METHODS, ServerErrorResponse
from coordkit.balancing.httpx import AsyncBalancedTransport, NoInstanceForRequest, TransportFailure
from coordkit.errors import BackendUnavailableError, OwnershipError

from .common import (
    Stopping,
    checked,
    enable_metrics,
    instance_id,
    listen_host,
    metrics_text,
    port_from_env,
    setup_logging,
    valid_order_id,
)
from .order_service import DEFAULTS, PAYMENTS_URL, SERVICE, PaymentFailed, _summary
from .order_service import _PaymentWatch as _SyncPaymentWatch
from .order_store import Order, OrderStore, StaleTokenError

__all__ = ["AsyncOrderService", "main"]

_CONNECT_TIMEOUT = 0.5  # loopback or one data centre: a refused or silent instance is dead
Reply = tuple[int, dict[str, Any]]


class _PaymentWatch(_SyncPaymentWatch):
    """The sync service's record of payment-service, reading httpx's errors."""

    def _instance_of(self, error: BaseException) -> str:
        if isinstance(error, ServerErrorResponse):
            try:
                return str(error.response.json().get("instance", "?"))
            except ValueError:
                return "?"
        if isinstance(error, TransportFailure):
            return error.instance.id
        try:  # the last attempt's httpx error: its request is the one sent to the instance
            url = error.request.url if isinstance(error, httpx.RequestError) else None
        except RuntimeError:  # an httpx error without its request
            url = None
        endpoint = f"{url.host}:{url.port}" if url is not None else ""
        with self._lock:
            return self._endpoints.get(endpoint, endpoint or "?")


class AsyncOrderService:
    """order-service on an asyncio ``client`` and ``store``: :meth:`start` before serving
    :attr:`app`, :meth:`stop` after (the client and the store stay open)."""

    def __init__(
        self, client: coordkit.aio.AsyncClient, store: OrderStore, *, instance: str, log: logging.Logger
    ) -> None:
        self.client, self.store, self.instance, self.log = client, store, instance, log
        self._counts = {"replays": 0, "failed_orders": 0}
        self.config: coordkit.Config[None] | None = None
        self.balancer: coordkit.aio.AsyncBalancer | None = None
        self.payments: _PaymentWatch | None = None
        self._http: httpx.AsyncClient | None = None
        self.app = Starlette(
            routes=[
                Route("/orders", self._orders, methods=["GET", "POST"]),
                Route("/orders/{order_id}", self._order, methods=["GET"]),
                Route("/settlements", self._settlements, methods=["POST"]),
                Route("/stats", self._stats, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/metrics", self._metrics, methods=["GET"]),
            ],
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        """Read the live config, follow payment-service's instances. Raises
        BackendUnavailableError if the store does not answer within the client's timeout."""
        self.config = await asyncio.to_thread(coordkit.Config, self.client.sync, SERVICE, defaults=DEFAULTS)
        self.balancer = await self.client.balancer("payment-service", "round_robin")
        self.payments = _PaymentWatch(self.balancer)  # type: ignore[arg-type]
        retry = Retrying(
            stop=stop_after_attempt(3), wait=wait_none(), reraise=True, before_sleep=self._attempt_failed
        )
        transport = AsyncBalancedTransport(
            balancers={"payment-service": self.balancer.sync},
            retry=retry,
            retry_methods=IDEMPOTENT_METHODS | {"POST"},
        )
        self._http = httpx.AsyncClient(transport=transport)
        self.log.info(
            "serving (asyncio); payment-service instances: %s (payment_timeout=%ss)",
            sorted(i.id for i in self.balancer.instances),
            self.config["payment_timeout"],
        )

    async def stop(self) -> None:
        """Let go of payment-service and the config (uvicorn has finished the requests)."""
        if self._http is not None:
            await self._http.aclose()
        if self.balancer is not None:
            await self.balancer.aclose()
        if self.config is not None:
            self.config.close()

    def _attempt_failed(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if error is not None and self.payments is not None:
            instance = self.payments.failed(error, retried=True)
            self.log.warning(
                "payment attempt on %s failed (%s); retrying on another instance",
                instance,
                type(error).__name__,
            )

    # --- HTTP ------------------------------------------------------------------------------------
    async def _orders(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"orders": [order.to_json() for order in self.store.all()]})
        body = await _json(request)
        problem = checked(body, {"order_id": str, "amount": (int, float)})
        if problem is None and not valid_order_id(body["order_id"]):
            problem = "'order_id' must be 1-64 letters, digits, '.', '_' or '-'"
        if problem:
            return JSONResponse({"error": problem}, 400)
        return _reply(await self.place(body["order_id"], float(body["amount"])))

    async def _order(self, request: Request) -> Response:
        order = self.store.get(request.path_params["order_id"])
        return JSONResponse(order.to_json()) if order else JSONResponse({"error": "no such order"}, 404)

    async def _settlements(self, request: Request) -> Response:
        body = await _json(request)
        problem = checked(body, {"worker": str, "token": int})
        return (
            JSONResponse({"error": problem}, 400)
            if problem
            else _reply(self.settle(body["worker"], body["token"]))
        )

    async def _stats(self, _request: Request) -> Response:
        assert self.payments is not None and self.config is not None
        stats = {
            **self.store.stats(),
            **self._counts,
            "payment_timeout": self.config.get("payment_timeout"),
            "payment_service": self.payments.report(),
        }
        return JSONResponse(stats)

    async def _health(self, _request: Request) -> Response:
        ready = self.client.state is coordkit.SessionState.CONNECTED
        assert self.config is not None
        body = {
            "status": "ok" if ready else "unavailable",
            "instance": self.instance,
            "payment_timeout": self.config.get("payment_timeout"),
            "config_version": self.config.version,
        }
        return JSONResponse(body, 200 if ready else 503)

    async def _metrics(self, _request: Request) -> Response:
        text = metrics_text()
        if text is None:
            return JSONResponse({"error": "metrics are not enabled"}, 404)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- orders ----------------------------------------------------------------------------------
    async def place(self, order_id: str, amount: float) -> Reply:
        """Pay ``order_id`` once, under its lock; an order already paid returns its payment."""
        known = self.store.get(order_id)
        if known is not None and known.paid:
            return self._replayed(known)
        assert self.config is not None
        lock = self.client.lock(f"orders/{order_id}", identity=self.instance)
        try:
            if not await lock.acquire(timeout=float(self.config.get("lock_timeout", 10.0))):
                return 503, {"error": f"order {order_id} is busy; try again"}
        except BackendUnavailableError as exc:
            return 503, {"error": f"coordination store unavailable: {exc}"}
        try:
            return await self._pay_locked(order_id, amount, lock)
        finally:
            try:
                await lock.release()
            except OwnershipError as exc:  # the fenced writes already refused what a newer holder wrote over
                self.log.warning("%s", exc)

    async def _pay_locked(self, order_id: str, amount: float, lock: coordkit.aio.AsyncLock) -> Reply:
        token = lock.token
        assert token is not None
        try:
            order = self.store.begin(order_id, amount, token)
            if order.paid:  # a request for the same order paid it while we waited for the lock
                return self._replayed(order)
            payment = await self._charge(order_id, amount, token)
            order = self.store.record_payment(
                order_id, amount, token, payment["payment_id"], payment["instance"]
            )
        except StaleTokenError as exc:
            self.log.warning("refused a stale write: %s", exc)
            return 409, {"error": str(exc)}
        except PaymentFailed as exc:
            self._counts["failed_orders"] += 1
            self.log.warning("order %s not paid: %s", order_id, exc)
            return 502, {"error": f"order {order_id} not paid: {exc}"}
        return 200, {**_summary(order), "replayed": False}

    def _replayed(self, order: Order) -> Reply:
        self._counts["replays"] += 1
        return 200, {**_summary(order), "replayed": True}

    async def _charge(self, order_id: str, amount: float, token: int) -> dict[str, Any]:
        assert self._http is not None and self.config is not None and self.payments is not None
        timeout = httpx.Timeout(float(self.config.get("payment_timeout", 2.0)), connect=_CONNECT_TIMEOUT)
        try:
            response = await self._http.post(
                PAYMENTS_URL, json={"order_id": order_id, "amount": amount, "token": token}, timeout=timeout
            )
        except NoInstanceForRequest as exc:
            raise PaymentFailed(str(exc)) from None
        except httpx.HTTPError as exc:
            self.payments.failed(exc, retried=False)
            raise PaymentFailed(f"every attempt failed, the last with {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PaymentFailed(f"payment-service answered {response.status_code}: {response.text[:200]}")
        return dict(response.json())

    def settle(self, worker: str, token: int) -> Reply:
        try:
            settled = self.store.settle(token, worker)
        except StaleTokenError as exc:
            self.log.warning("refused settlement by %s: %s", worker, exc)
            return 409, {"error": str(exc)}
        if settled:
            self.log.info("settled %d orders for %s (token %d)", len(settled), worker, token)
        return 200, {"settled": settled}


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _reply(reply: Reply) -> Response:
    return JSONResponse(reply[1], reply[0])


async def _connect(log: logging.Logger) -> coordkit.aio.AsyncClient:
    """Connect, retrying while the store does not answer (a service may start before its store)."""

    def say(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("store not reachable yet (attempt %d): %s", state.attempt_number, error)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(BackendUnavailableError),
        wait=backoff(multiplier=0.2, max=5.0),
        before_sleep=say,
        reraise=True,
    )
    client: coordkit.aio.AsyncClient = await retrying(_open, os.environ.get("COORDKIT_URL"))
    log.info(
        "connected to %s (%s, session TTL %gs)",
        client.sync.url.split("?")[0],
        client.kind,
        client.session.ttl,
    )
    return client


async def _open(url: str | None) -> coordkit.aio.AsyncClient:
    return await coordkit.aio.connect(url)


async def serve(log: logging.Logger, instance: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT (uvicorn's: it stops accepting and finishes what is in flight)."""
    store = OrderStore(os.environ.get("ORDER_DB_PATH") or "orders.sqlite3")
    # uvicorn stops on SIGTERM/SIGINT, then raises the signal again for the handlers it found:
    # these record it (the process exits 0 after the clean-up) instead of dying by it.
    Stopping().install()
    try:
        async with await _connect(log) as client:
            service = AsyncOrderService(client, store, instance=instance, log=log)
            config = uvicorn.Config(
                service.app,
                host=listen_host(),
                port=port,
                log_level="warning",
                lifespan="on",
                access_log=False,
            )
            await uvicorn.Server(config).serve()
    finally:
        store.close()


def main() -> int:
    me = instance_id()
    log = setup_logging(SERVICE, me)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per payment request
    enable_metrics(log)
    asyncio.run(serve(log, me, port_from_env(8080)))
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
