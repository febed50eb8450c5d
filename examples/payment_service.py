"""payment-service: charges orders. Several instances run; order-service finds them through
coordkit discovery and balances over them itself (no proxy in between).

    PORT=8081 ADVERTISE_HOST=127.0.0.1 COORDKIT_URL=etcd://127.0.0.1:2379/example \\
        python -m examples.payment_service

HTTP (JSON):
    POST /payment {order_id, amount, token}  ->  {payment_id, instance, order_id, amount, replayed}
    GET  /health   200 once serving, connected and registered; 503 otherwise
    GET  /stats    what this instance charged and replayed

Registration: once it serves, the instance registers itself as ``payment-service`` (an ephemeral
key of its coordkit session, so it vanishes with the process: at once on SIGTERM, after the session
TTL if the process is killed). On SIGTERM/SIGINT it deregisters first, serves what is in flight for
a short drain (``DRAIN_SECONDS``, default 2, ending early once idle), closes its client, exits 0.

Idempotent charges: a charge is recorded once per order id for every instance together, as the
create-if-absent key ``/payments/<order_id>`` in the coordkit store (the idempotency key a payment
provider keeps). A payment sent again, to this or any other instance, returns the first charge
(``replayed: true``). That is what lets order-service retry a payment on another instance after a
failure that leaves it unsure whether the first attempt went through (a connection reset by an
instance that died mid-request, a read timeout).

Live configuration (``client.config("payment-service")``): ``delay_ms``, the simulated processing
time of a charge; a change applies to the next payment and is logged.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from typing import Any

import coordkit
from coordkit.errors import BackendUnavailableError, ClosedError, KeyExistsError

from .common import (
    JsonServer,
    Reply,
    Stopping,
    advertise_host,
    checked,
    connect,
    enable_metrics,
    instance_id,
    listen_host,
    port_from_env,
    setup_logging,
    valid_order_id,
)

__all__ = ["CHARGES", "DEFAULTS", "SERVICE", "PaymentService", "main"]

SERVICE = "payment-service"
CHARGES = "/payments"  # the idempotency keys: /payments/<order_id>
DEFAULTS = {"delay_ms": 5}


class PaymentService:
    """One payment-service instance on ``client``: :meth:`start` serves and registers,
    :meth:`stop` deregisters, drains and stops serving (the client stays open)."""

    def __init__(
        self,
        client: coordkit.Client,
        *,
        instance: str,
        port: int = 0,
        host: str = "0.0.0.0",
        advertise: str = "127.0.0.1",
        log: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.instance = instance
        self._address = (host, port)
        self._advertise = advertise
        self.log = log or logging.getLogger(SERVICE)
        self._counts = {"charged": 0, "replayed": 0, "failed": 0}
        self._counts_lock = threading.Lock()
        self.config: coordkit.Config[Any] | None = None
        self.registration: coordkit.Registration | None = None
        self.server: JsonServer | None = None

    # --- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Read the live config, serve, then register (so nobody is sent here before it serves).
        Raises BackendUnavailableError if the store does not answer within the client's timeout."""
        self.config = self.client.config(SERVICE, defaults=DEFAULTS)
        self.config.on_change(self._config_changed)
        self.server = JsonServer(self._address, self)
        self.server.start(f"{SERVICE}-http")
        self.registration = self.client.register(
            SERVICE,
            self._advertise,
            self.server.port,
            id=self.instance,
            metadata={"version": "1", "pid": str(os.getpid())},
        )
        self.log.info(
            "serving on %s:%d and registered as %s (delay_ms=%s)",
            self._advertise,
            self.server.port,
            self.registration.key,
            self.config["delay_ms"],
        )

    def stop(self, drain: float = 2.0) -> None:
        """Graceful: drain (status ``draining``: balancers elsewhere stop picking this instance
        within their watch delay), serve what is in flight until idle (at most ``drain``
        seconds), then deregister and stop serving. A request that picked this instance just
        before the drain reached a caller's cache still gets an answer."""
        if self.registration is not None:
            try:
                self.registration.drain("shutting down")
                self.log.info("draining %s", self.registration.key)
            except (BackendUnavailableError, ClosedError) as exc:
                self.log.warning("could not drain (deregistering after the requests in flight): %s", exc)
        if self.server is not None:
            self.server.wait_idle(drain, quiet=min(0.3, drain))
        if self.registration is not None:
            try:
                self.registration.deregister()
                self.log.info("deregistered %s", self.registration.key)
            except BackendUnavailableError as exc:
                self.log.warning("could not deregister (the key goes with the session): %s", exc)
        if self.server is not None:
            self.server.stop(drain=1.0)
        if self.config is not None:
            self.config.close()

    @property
    def port(self) -> int:
        assert self.server is not None, "start() first"
        return self.server.port

    @property
    def ready(self) -> bool:
        """Serving, connected and registered: what GET /health reports."""
        registered = self.registration is not None and self.registration.registered
        return registered and self.client.state is coordkit.SessionState.CONNECTED

    def _config_changed(self, changes: coordkit.ConfigChanges) -> None:
        for key, (old, new) in changes.items():
            self.log.info("config changed: %s %s -> %s (version %d)", key, old, new, changes.snapshot.version)

    # --- HTTP ------------------------------------------------------------------------------------
    def route(self, method: str, path: str, body: Any) -> Reply:
        if (method, path) == ("POST", "/payment"):
            return self._pay(body)
        if (method, path) == ("GET", "/health"):
            return self._health()
        if (method, path) == ("GET", "/stats"):
            in_flight = self.server.in_flight - 1 if self.server is not None else 0  # but this one
            with self._counts_lock:
                return 200, {"instance": self.instance, **self._counts, "in_flight": in_flight}
        return 404, {"error": f"no route {method} {path}"}

    def _health(self) -> Reply:
        assert self.config is not None
        body = {
            "status": "ok" if self.ready else "unavailable",
            "instance": self.instance,
            "delay_ms": self.config.get("delay_ms"),
            "config_version": self.config.version,
        }
        return (200 if self.ready else 503), body

    def _pay(self, body: Any) -> Reply:
        problem = checked(body, {"order_id": str, "amount": (int, float), "token": int})
        if problem is None and not valid_order_id(body["order_id"]):
            problem = "'order_id' must be 1-64 letters, digits, '.', '_' or '-'"
        if problem is not None:
            return 400, {"error": problem, "instance": self.instance}
        try:
            charge, replayed = self.charge(body["order_id"], float(body["amount"]), body["token"])
        except BackendUnavailableError as exc:
            self._count("failed")
            self.log.warning("payment of %s not recorded: %s", body["order_id"], exc)
            return 503, {"error": f"payment store unavailable: {exc}", "instance": self.instance}
        if charge["amount"] != float(body["amount"]):
            return 409, {
                "error": f"order {body['order_id']} was charged {charge['amount']}, not {body['amount']}",
                "instance": self.instance,
            }
        return 200, {**charge, "replayed": replayed}

    # --- charging --------------------------------------------------------------------------------
    def charge(self, order_id: str, amount: float, token: int) -> tuple[dict[str, Any], bool]:
        """Charge ``order_id`` once for every instance together: ``(charge, replayed)``.

        Raises BackendUnavailableError if the store does not answer; the charge may then have
        been recorded, and sending the payment again tells (it replays)."""
        key = f"{CHARGES}/{order_id}"
        existing = self.client.get(key)
        if existing is not None:
            self._count("replayed")
            return json.loads(existing.value), True
        assert self.config is not None
        time.sleep(max(0.0, float(self.config.get("delay_ms", 0))) / 1000)  # the "bank" at work
        charge = {
            "payment_id": f"pay-{uuid.uuid4().hex[:12]}",
            "order_id": order_id,
            "amount": amount,
            "instance": self.instance,
            "token": token,
            "at": time.time(),
        }
        try:
            self.client.put(key, json.dumps(charge), create=True)
        except KeyExistsError:
            # Another instance charged it meanwhile (a retry raced the first attempt): theirs wins.
            won = self.client.get(key)
            assert won is not None, f"{key} existed a moment ago; charges are never deleted"
            self._count("replayed")
            return json.loads(won.value), True
        self._count("charged")
        return charge, False

    def _count(self, what: str) -> None:
        with self._counts_lock:
            self._counts[what] += 1


def main() -> int:
    me = instance_id()
    log = setup_logging(SERVICE, me)
    stopping = Stopping().install()
    port = port_from_env()
    enable_metrics(log)
    client = connect(log, stopping)
    if client is None:
        return 0
    service = PaymentService(
        client, instance=me, port=port, host=listen_host(), advertise=advertise_host(), log=log
    )
    try:
        service.start()
        why = stopping.wait()
        log.info("%s: stopping", why)
        service.stop(drain=float(os.environ.get("DRAIN_SECONDS", "2")))
    finally:
        client.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
