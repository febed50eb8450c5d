"""order-service: pays each order once under its lock, refuses stale fencing tokens in its
database, and fails over to another payment instance when one dies."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from examples_helpers import get, post

import coordkit
from coordkit.testing import eventually
from examples.order_service import OrderService
from examples.order_store import OrderStore, StaleTokenError
from examples.payment_service import PaymentService


def _url(service: OrderService, path: str) -> str:
    return f"http://127.0.0.1:{service.port}{path}"


def test_an_order_is_paid_once_however_often_it_is_sent(
    payment_service: Callable[..., PaymentService],
    order_service: Callable[..., OrderService],
    client: coordkit.Client,
) -> None:
    payment_service("pay-a")
    payment_service("pay-b")
    orders = order_service()
    body = {"order_id": "o-1", "amount": 20}
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: post(_url(orders, "/orders"), body), range(8)))
    assert {status for status, _ in replies} == {200}
    assert len({reply["payment_id"] for _, reply in replies}) == 1
    assert sum(not reply["replayed"] for _, reply in replies) == 1

    status, later = post(_url(orders, "/orders"), body)
    assert status == 200 and later["replayed"] and later["payment_id"] == replies[0][1]["payment_id"]
    status, stored = get(_url(orders, "/orders/o-1"))
    assert status == 200 and (stored["status"], stored["payment_id"]) == ("paid", later["payment_id"])
    assert [entry.key.rsplit("/", 1)[-1] for entry in client.tree("/payments")] == ["o-1"]


def test_requests_it_cannot_serve_are_refused(order_service: Callable[..., OrderService]) -> None:
    orders = order_service()
    assert post(_url(orders, "/orders"), {"order_id": "o-1"})[0] == 400
    assert post(_url(orders, "/orders"), {"order_id": "../x", "amount": 1})[0] == 400
    assert get(_url(orders, "/orders/o-404"))[0] == 404
    # No payment-service instance at all: the order is not paid, and says so.
    status, body = post(_url(orders, "/orders"), {"order_id": "o-2", "amount": 1})
    assert status == 502 and "payment-service" in body["error"]
    assert get(_url(orders, "/orders/o-2"))[1]["status"] == "pending"


def test_the_database_refuses_a_stale_lock_token(client: coordkit.Client, tmp_path: Path) -> None:
    store = OrderStore(str(tmp_path / "orders.sqlite3"))
    tokens = []
    for _ in range(2):  # two successive holders of the order's lock
        with client.lock("orders/o-1") as lock:
            tokens.append(lock.token)
    old, new = tokens
    assert old is not None and new is not None and new > old

    store.begin("o-1", 10.0, new)
    with pytest.raises(StaleTokenError, match="older"):
        store.record_payment("o-1", 10.0, old, "pay-stale", "pay-a")  # the first holder, waking up late
    assert store.get("o-1").status == "pending"  # type: ignore[union-attr]

    paid = store.record_payment("o-1", 10.0, new, "pay-1", "pay-b")
    assert (paid.status, paid.payment_id, paid.fence_token) == ("paid", "pay-1", new)
    # A later holder finds it paid: nothing is paid twice, nothing is overwritten.
    assert store.record_payment("o-1", 10.0, new + 1, "pay-2", "pay-a").payment_id == "pay-1"
    store.close()


def test_settlement_by_a_deposed_leader_is_refused(order_service: Callable[..., OrderService]) -> None:
    orders = order_service()
    orders.store.record_payment("o-1", 5.0, 1, "pay-1", "pay-a")
    assert post(_url(orders, "/settlements"), {"worker": "w2", "token": 20}) == (200, {"settled": ["o-1"]})
    orders.store.record_payment("o-2", 5.0, 1, "pay-2", "pay-a")
    status, body = post(_url(orders, "/settlements"), {"worker": "w1", "token": 10})
    assert status == 409 and "older" in body["error"]
    assert get(_url(orders, "/orders/o-2"))[1]["status"] == "paid"


def test_payments_fail_over_when_an_instance_dies(
    payment_service: Callable[..., PaymentService], order_service: Callable[..., OrderService]
) -> None:
    dead, alive = payment_service("pay-a"), payment_service("pay-b")
    orders = order_service()
    balancer = orders.balancer
    assert balancer is not None
    eventually(
        lambda: len(balancer.instances) == 2, message="both instances in order-service's cache", timeout=10.0
    )
    # Crashed, as far as callers can tell: it refuses connections but is still registered.
    assert dead.server is not None
    dead.server.shutdown()
    dead.server.server_close()

    for index in range(6):
        status, body = post(_url(orders, "/orders"), {"order_id": f"o-{index}", "amount": 1})
        assert status == 200 and body["payment_instance"] == "pay-b", body
    report = get(_url(orders, "/stats"))[1]
    failures = report["payment_service"]["failures"]
    assert failures and {f["instance"] for f in failures} == {"pay-a"}
    assert all(f["retried"] for f in failures) and report["failed_orders"] == 0
    assert report["payments_by_instance"] == {"pay-b": 6}
    assert alive.ready
