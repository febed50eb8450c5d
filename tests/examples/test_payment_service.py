"""payment-service: registers once serving, charges each order once across instances, follows
live config, and deregisters and exits 0 on SIGTERM."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from examples_helpers import Spawned, answers, get, post

import coordkit
from coordkit.testing import eventually
from examples.payment_service import PaymentService


def _url(service: PaymentService, path: str) -> str:
    return f"http://127.0.0.1:{service.port}{path}"


def test_it_registers_once_serving_and_deregisters_on_stop(
    payment_service: Callable[..., PaymentService], client: coordkit.Client
) -> None:
    service = payment_service("pay-a")
    [instance] = client.instances("payment-service")
    assert (instance.id, instance.address, instance.port) == ("pay-a", "127.0.0.1", service.port)
    assert get(_url(service, "/health")) == (
        200,
        {"status": "ok", "instance": "pay-a", "delay_ms": 5, "config_version": service.config.version},
    )  # type: ignore[union-attr]

    assert service.registration is not None
    service.registration.deregister()
    assert client.instances("payment-service") == []
    assert get(_url(service, "/health"))[0] == 503  # serving, but not registered: not ready

    service.stop(drain=0.1)
    with pytest.raises(requests.ConnectionError):
        get(_url(service, "/health"))


def test_an_order_is_charged_once_whichever_instance_is_asked(
    payment_service: Callable[..., PaymentService], client: coordkit.Client
) -> None:
    a, b = payment_service("pay-a"), payment_service("pay-b")
    status, first = post(_url(a, "/payment"), {"order_id": "o-1", "amount": 12.5, "token": 7})
    assert status == 200 and (first["instance"], first["replayed"], first["amount"]) == ("pay-a", False, 12.5)

    status, again = post(_url(b, "/payment"), {"order_id": "o-1", "amount": 12.5, "token": 9})
    assert status == 200 and again["replayed"] is True
    assert (again["payment_id"], again["instance"]) == (first["payment_id"], "pay-a")

    # Concurrent attempts for one order on both instances: one charge, the same reply for all.
    body = {"order_id": "o-2", "amount": 3, "token": 11}
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda i: post(_url((a, b)[i % 2], "/payment"), body), range(8)))
    assert {status for status, _ in replies} == {200}
    assert len({reply["payment_id"] for _, reply in replies}) == 1
    assert sum(not reply["replayed"] for _, reply in replies) == 1
    assert sorted(entry.key.rsplit("/", 1)[-1] for entry in client.tree("/payments")) == ["o-1", "o-2"]


def test_bad_payments_are_refused(payment_service: Callable[..., PaymentService]) -> None:
    service = payment_service("pay-a")
    post(_url(service, "/payment"), {"order_id": "o-1", "amount": 10, "token": 1})
    assert post(_url(service, "/payment"), {"order_id": "o-1", "amount": 99, "token": 1})[0] == 409
    assert post(_url(service, "/payment"), {"order_id": "o-3", "amount": 10})[0] == 400
    assert post(_url(service, "/payment"), {"order_id": "a/../b", "amount": 10, "token": 1})[0] == 400
    assert post(_url(service, "/payment"), {"order_id": "o-4", "amount": True, "token": 1})[0] == 400


def test_the_processing_delay_follows_live_config(
    payment_service: Callable[..., PaymentService], client: coordkit.Client
) -> None:
    service = payment_service("pay-a")
    config = client.config("payment-service", writable=True)
    config.set("delay_ms", 300)
    eventually(
        lambda: (answers(_url(service, "/health")) or {}).get("delay_ms") == 300,
        message="the new delay",
        timeout=10.0,
    )
    started = time.monotonic()
    assert post(_url(service, "/payment"), {"order_id": "o-1", "amount": 1, "token": 1})[0] == 200
    assert time.monotonic() - started >= 0.3


def test_the_program_deregisters_and_exits_0_on_sigterm(
    spawned: Callable[..., Spawned], server_url: str
) -> None:
    env = {
        "COORDKIT_URL": server_url,
        "PORT": "0",
        "ADVERTISE_HOST": "127.0.0.1",
        "LISTEN_HOST": "127.0.0.1",
        "DRAIN_SECONDS": "0.5",
    }
    process = spawned("examples.payment_service", "pay-x", env)
    with coordkit.connect(server_url) as client:
        [instance] = eventually(
            lambda: client.instances("payment-service"), timeout=30, message="the registration"
        )
        assert (answers(f"http://127.0.0.1:{instance.port}/health") or {}).get("status") == "ok"
        process.signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert client.instances("payment-service") == []
    log = process.output()
    assert "deregistered /services/payment-service/pay-x" in log and "Traceback" not in log
