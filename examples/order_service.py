"""order-service: takes orders, pays them through payment-service, keeps them in SQLite.

    PORT=8080 ORDER_DB_PATH=orders.sqlite3 COORDKIT_URL=etcd://127.0.0.1:2379/example \\
        python -m examples.order_service

HTTP (JSON):
    POST /orders {order_id, amount}   pay the order once: {order_id, status, payment_id, payment_instance,
                                      replayed}; the same order_id again returns the first payment
    GET  /orders, GET /orders/<id>    the orders as stored
    POST /settlements {worker, token} mark paid orders settled (the settlement leader calls this)
    GET  /stats                       counts, payments per instance, failed attempts, ejections
    GET  /health                      200 once serving and connected; 503 otherwise

Each order is handled under the coordkit lock ``orders/<order_id>``, and every database write for
it carries the lock's fencing token (see :mod:`examples.order_store`): two requests for one order,
from any number of order-service copies, pay it once, and a holder that lost its lock cannot
overwrite a newer one's write. payment-service is called as ``http://payment-service/payment``
through coordkit's ``BalancedSession``: the instance is picked from the live discovery cache, and
a failed attempt (refused, reset, timed out, 5xx) is retried on another instance. POST is retried
too, because payment-service charges each order id once (its idempotency key).

Live configuration (``client.config("order-service")``): ``payment_timeout`` (seconds to wait for
one payment attempt) and ``lock_timeout`` (seconds to wait for an order's lock).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_none

import coordkit
from coordkit.balancing import StrategyName
from coordkit.balancing.http import (
    IDEMPOTENT_METHODS,
    BalancedSession,
    NoInstanceForRequest,
    ServerErrorResponse,
)
from coordkit.errors import BackendUnavailableError, OwnershipError

from .common import (
    JsonServer,
    Reply,
    Stopping,
    checked,
    connect,
    enable_metrics,
    instance_id,
    listen_host,
    port_from_env,
    setup_logging,
    valid_order_id,
)
from .order_store import Order, OrderStore, StaleTokenError

__all__ = ["DEFAULTS", "PAYMENTS_URL", "SERVICE", "OrderService", "PaymentFailed", "main"]

SERVICE = "order-service"
PAYMENTS_URL = "http://payment-service/payment"
DEFAULTS = {"payment_timeout": 2.0, "lock_timeout": 10.0}
_CONNECT_TIMEOUT = 0.5  # loopback or one data centre: a refused or silent instance is dead


class PaymentFailed(Exception):
    """No payment-service instance charged the order (after the retries)."""


class _PaymentWatch:
    """What order-service saw of payment-service: failed attempts (by instance), ejections
    and departures from the discovery cache, with wall-clock times for the demo's report."""

    def __init__(self, balancer: coordkit.Balancer) -> None:
        self._balancer = balancer
        self._lock = threading.Lock()
        self._endpoints: dict[str, str] = {}
        self.failures: list[dict[str, Any]] = []
        self.ejected_at: dict[str, float] = {}
        self.departed_at: dict[str, float] = {}
        self._present = {i.id for i in balancer.instances}
        self._remember(balancer.instances)
        balancer.source.add_listener(self._instances_changed)

    def _remember(self, instances: Sequence[coordkit.ServiceInstance]) -> None:
        for instance in instances:
            self._endpoints[f"{instance.address}:{instance.port}"] = instance.id

    def _instances_changed(self, instances: Sequence[coordkit.ServiceInstance]) -> None:
        now = time.time()
        with self._lock:
            self._remember(instances)
            current = {i.id for i in instances}
            for gone in self._present - current:
                self.departed_at[gone] = now
            self._present = current

    def failed(self, error: BaseException, *, retried: bool) -> str:
        """Record one failed attempt; returns the instance it went to."""
        instance = self._instance_of(error)
        now = time.time()
        with self._lock:
            self.failures.append(
                {
                    "at": now,
                    "instance": instance,
                    "retried": retried,
                    "error": f"{type(error).__name__}: {error}"[:200],
                }
            )
            for ejected in self._balancer.ejected:
                self.ejected_at.setdefault(ejected.id, now)
        return instance

    def _instance_of(self, error: BaseException) -> str:
        if isinstance(error, ServerErrorResponse):
            try:
                return str(error.response.json().get("instance", "?"))
            except ValueError:
                return "?"
        request = getattr(error, "request", None)
        url = getattr(request, "url", None) or ""
        endpoint = url.split("://", 1)[-1].split("/", 1)[0]
        with self._lock:
            return self._endpoints.get(endpoint, endpoint or "?")

    def report(self) -> dict[str, Any]:
        with self._lock:
            failures = list(self.failures)
            retried = sum(1 for f in failures if f["retried"])
            return {
                "failed_attempts": len(failures),
                "retried_attempts": retried,
                "failures": failures[-200:],
                "ejected_at": dict(self.ejected_at),
                "departed_at": dict(self.departed_at),
                "instances": sorted(i.id for i in self._balancer.instances),
                "ejected": sorted(i.id for i in self._balancer.ejected),
            }


class OrderService:
    """order-service on ``client`` and ``store``: :meth:`start` serves, :meth:`stop` stops
    accepting and finishes what is in flight (the client and the store stay open)."""

    def __init__(
        self,
        client: coordkit.Client,
        store: OrderStore,
        *,
        instance: str,
        port: int = 8080,
        host: str = "0.0.0.0",
        log: logging.Logger | None = None,
        strategy: StrategyName = "round_robin",
    ) -> None:
        self.client = client
        self.store = store
        self.instance = instance
        self._address = (host, port)
        self._strategy = strategy
        self.log = log or logging.getLogger(SERVICE)
        self._counts = {"replays": 0, "failed_orders": 0}
        self._counts_lock = threading.Lock()
        self.config: coordkit.Config | None = None
        self.balancer: coordkit.Balancer | None = None
        self.payments: _PaymentWatch | None = None
        self._http: BalancedSession | None = None
        self.server: JsonServer | None = None

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the live config, start following payment-service's instances, serve.
        Raises BackendUnavailableError if the store does not answer within the client's timeout."""
        self.config = self.client.config(SERVICE, defaults=DEFAULTS)
        self.config.on_change(self._config_changed)
        self.balancer = self.client.balancer("payment-service", self._strategy)
        self.payments = _PaymentWatch(self.balancer)
        retry = Retrying(
            stop=stop_after_attempt(3), wait=wait_none(), reraise=True, before_sleep=self._attempt_failed
        )
        self._http = BalancedSession(
            balancers={"payment-service": self.balancer},
            retry=retry,
            retry_methods=IDEMPOTENT_METHODS | {"POST"},
        )
        self.server = JsonServer(self._address, self)
        self.server.start(f"{SERVICE}-http")
        self.log.info(
            "serving on port %d; payment-service instances: %s (payment_timeout=%ss)",
            self.server.port,
            sorted(i.id for i in self.balancer.instances),
            self.config["payment_timeout"],
        )

    def stop(self, drain: float = 10.0) -> None:
        """Stop accepting, finish requests in flight (at most ``drain`` seconds), let go of
        payment-service and the config."""
        if self.server is not None:
            self.server.stop(drain)
        if self._http is not None:
            self._http.close()
        if self.balancer is not None:
            self.balancer.close()
        if self.config is not None:
            self.config.close()

    @property
    def port(self) -> int:
        assert self.server is not None, "start() first"
        return self.server.port

    def _config_changed(self, changes: coordkit.ConfigChanges) -> None:
        for key, (old, new) in changes.items():
            self.log.info("config changed: %s %s -> %s (version %d)", key, old, new, changes.version)

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
    def route(self, method: str, path: str, body: Any) -> Reply:
        if (method, path) == ("POST", "/orders"):
            problem = checked(body, {"order_id": str, "amount": (int, float)})
            if problem is None and not valid_order_id(body["order_id"]):
                problem = "'order_id' must be 1-64 letters, digits, '.', '_' or '-'"
            return (
                (400, {"error": problem}) if problem else self.place(body["order_id"], float(body["amount"]))
            )
        if (method, path) == ("POST", "/settlements"):
            problem = checked(body, {"worker": str, "token": int})
            return (400, {"error": problem}) if problem else self.settle(body["worker"], body["token"])
        if method == "GET":
            return self._read(path)
        return 404, {"error": f"no route {method} {path}"}

    def _read(self, path: str) -> Reply:
        if path == "/orders":
            return 200, {"orders": [order.to_json() for order in self.store.all()]}
        if path.startswith("/orders/"):
            order = self.store.get(path.removeprefix("/orders/"))
            return (200, order.to_json()) if order else (404, {"error": "no such order"})
        if path == "/stats":
            return 200, self.stats()
        if path == "/health":
            ready = self.client.state is coordkit.SessionState.CONNECTED
            assert self.config is not None
            return (200 if ready else 503), {
                "status": "ok" if ready else "unavailable",
                "instance": self.instance,
                "payment_timeout": self.config.get("payment_timeout"),
                "config_version": self.config.version,
            }
        return 404, {"error": f"no route GET {path}"}

    def stats(self) -> dict[str, Any]:
        assert self.payments is not None and self.config is not None
        with self._counts_lock:
            counts = dict(self._counts)
        return {
            **self.store.stats(),
            **counts,
            "payment_timeout": self.config.get("payment_timeout"),
            "payment_service": self.payments.report(),
        }

    # --- orders ----------------------------------------------------------------------------------
    def place(self, order_id: str, amount: float) -> Reply:
        """Pay ``order_id`` once, under its lock; an order already paid returns its payment."""
        known = self.store.get(order_id)
        if known is not None and known.paid:
            return self._replayed(known)
        assert self.config is not None
        lock = self.client.lock(f"orders/{order_id}", identity=self.instance)
        try:
            if not lock.acquire(timeout=float(self.config.get("lock_timeout", 10.0))):
                return 503, {"error": f"order {order_id} is busy; try again"}
        except BackendUnavailableError as exc:
            return 503, {"error": f"coordination store unavailable: {exc}"}
        try:
            return self._pay_locked(order_id, amount, lock)
        finally:
            try:
                lock.release()
            except OwnershipError as exc:  # the fenced writes already refused what a newer holder wrote over
                self.log.warning("%s", exc)

    def _pay_locked(self, order_id: str, amount: float, lock: coordkit.Lock) -> Reply:
        token = lock.token
        assert token is not None
        try:
            order = self.store.begin(order_id, amount, token)
            if order.paid:  # a request for the same order paid it while we waited for the lock
                return self._replayed(order)
            payment = self._charge(order_id, amount, token)
            order = self.store.record_payment(
                order_id, amount, token, payment["payment_id"], payment["instance"]
            )
        except StaleTokenError as exc:
            self.log.warning("refused a stale write: %s", exc)
            return 409, {"error": str(exc)}
        except PaymentFailed as exc:
            self._count("failed_orders")
            self.log.warning("order %s not paid: %s", order_id, exc)
            return 502, {"error": f"order {order_id} not paid: {exc}"}
        return 200, {**_summary(order), "replayed": False}

    def _replayed(self, order: Order) -> Reply:
        self._count("replays")
        return 200, {**_summary(order), "replayed": True}

    def _count(self, what: str) -> None:
        with self._counts_lock:
            self._counts[what] += 1

    def _charge(self, order_id: str, amount: float, token: int) -> dict[str, Any]:
        assert self._http is not None and self.config is not None and self.payments is not None
        timeout = (_CONNECT_TIMEOUT, float(self.config.get("payment_timeout", 2.0)))
        try:
            response = self._http.post(
                PAYMENTS_URL, json={"order_id": order_id, "amount": amount, "token": token}, timeout=timeout
            )
        except NoInstanceForRequest as exc:
            raise PaymentFailed(str(exc)) from None
        except requests.RequestException as exc:
            self.payments.failed(exc, retried=False)
            raise PaymentFailed(f"every attempt failed, the last with {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PaymentFailed(f"payment-service answered {response.status_code}: {response.text[:200]}")
        return dict(response.json())

    # --- settlement ------------------------------------------------------------------------------
    def settle(self, worker: str, token: int) -> Reply:
        try:
            settled = self.store.settle(token, worker)
        except StaleTokenError as exc:
            self.log.warning("refused settlement by %s: %s", worker, exc)
            return 409, {"error": str(exc)}
        if settled:
            self.log.info("settled %d orders for %s (token %d)", len(settled), worker, token)
        return 200, {"settled": settled}


def _summary(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "status": order.status,
        "payment_id": order.payment_id,
        "payment_instance": order.payment_instance,
        "fence_token": order.fence_token,
    }


def main() -> int:
    me = instance_id()
    log = setup_logging(SERVICE, me)
    stopping = Stopping().install()
    port = port_from_env(8080)
    store = OrderStore(os.environ.get("ORDER_DB_PATH") or "orders.sqlite3")
    enable_metrics(log)
    client = connect(log, stopping)
    if client is None:
        return 0
    service = OrderService(client, store, instance=me, port=port, host=listen_host(), log=log)
    try:
        service.start()
        why = stopping.wait()
        log.info("%s: stopping", why)
        service.stop()
    finally:
        client.close()
        store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
