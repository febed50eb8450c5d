"""settlement-worker: of several copies only the elected leader settles; when the leader is
killed another copy takes over; on SIGTERM the leader resigns and exits 0."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from examples_helpers import Spawned

import coordkit
from coordkit.testing import eventually
from examples.order_service import OrderService
from examples.order_store import OrderStore
from examples.settlement_worker import BATCH_KEY, ELECTION, SettlementWorker


def _pay(orders: OrderService, *order_ids: str) -> None:
    """Paid orders as the payment path would leave them (payment itself is tested elsewhere)."""
    for order_id in order_ids:
        orders.store.record_payment(order_id, 1.0, 1, f"pay-{uuid.uuid4().hex[:8]}", "pay-a")


def _settled(orders: OrderService) -> dict[str, str | None]:
    return {o.order_id: o.settled_by for o in orders.store.all() if o.status == "settled"}


def test_only_the_leader_runs_the_job(
    make_client: Callable[..., coordkit.Client], order_service: Callable[..., OrderService]
) -> None:
    orders = order_service()
    url = f"http://127.0.0.1:{orders.port}"
    batches: list[dict[str, object]] = []
    observer = make_client()

    def record(event: coordkit.WatchEvent) -> None:
        if event.entry is not None:
            batches.append(json.loads(event.entry.value))

    watch = observer.watch(BATCH_KEY, record)
    stop = threading.Event()
    workers = [SettlementWorker(make_client(), instance=f"w{i}", order_service_url=url) for i in (1, 2)]
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    leaders: list[SettlementWorker] = []
    try:
        _pay(orders, "o-1", "o-2")
        eventually(lambda: len(_settled(orders)) == 2, message="the first orders settled", timeout=10.0)
        _pay(orders, "o-3")
        eventually(lambda: len(_settled(orders)) == 3, message="the next order settled", timeout=10.0)
        eventually(
            lambda: len(batches) >= 3, message="a few batches", timeout=10.0
        )  # the job runs periodically
        leaders = [w for w in workers if w.is_leader]  # before stopping: the leader resigns at once
    finally:
        stop.set()
        for worker in workers:
            if not worker.is_leader:
                worker.client.close()  # as the program does: ends the waiting campaign
        for thread in threads:
            thread.join(10)
        watch.cancel()
    [leader] = leaders
    [follower] = [w for w in workers if w is not leader]
    assert set(_settled(orders).values()) == {leader.instance}
    assert {record["leader"] for record in batches} == {leader.instance}
    assert (follower.batches, follower.settled) == (0, 0) and leader.settled == 3


@pytest.fixture
def orders_on(tmp_path: Path) -> Iterator[Callable[[str], OrderService]]:
    """order-service in this process on a given store URL (the workers run as subprocesses)."""
    started: list[OrderService] = []

    def start(url: str) -> OrderService:
        service = OrderService(
            coordkit.connect(url),
            OrderStore(str(tmp_path / "orders.sqlite3")),
            instance="orders",
            port=0,
            host="127.0.0.1",
        )
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(drain=1.0)
        service.client.close()
        service.store.close()


def test_another_copy_takes_over_when_the_leader_is_killed(
    spawned: Callable[..., Spawned], server_url: str, orders_on: Callable[[str], OrderService]
) -> None:
    orders = orders_on(server_url)
    env = {"COORDKIT_URL": server_url, "ORDER_SERVICE_URL": f"http://127.0.0.1:{orders.port}"}
    election = orders.client.election(ELECTION)
    first = spawned("examples.settlement_worker", "w1", env)
    eventually(
        lambda: (election.leader() or coordkit.Leader("", "", 0)).proposal == "w1",
        timeout=30,
        message="w1 to lead",
    )
    second = spawned("examples.settlement_worker", "w2", env)
    eventually(lambda: "campaigning" in second.output(), timeout=30, message="w2 to campaign")
    _pay(orders, "o-1")
    eventually(lambda: _settled(orders) == {"o-1": "w1"}, timeout=10, message="w1 to settle o-1")

    first.kill()  # SIGKILL: no resignation; its candidacy ends with its session (TTL 2 s)
    _pay(orders, "o-2")
    eventually(
        lambda: _settled(orders).get("o-2") == "w2", timeout=20, message="w2 to take over and settle o-2"
    )
    assert "became leader" in second.output()

    second.signal(signal.SIGTERM)  # the leader resigns on its way out
    assert second.wait(15) == 0
    assert election.leader() is None
    assert "resigned leadership" in second.output() and "Traceback" not in second.output()
