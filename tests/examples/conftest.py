"""Fixtures for the example system's tests: services in this process (on every backend) and as
real subprocesses (on the real servers), all stopped after the test.

``examples`` is imported as the package at the repository root, which pytest puts on ``sys.path``
(``pythonpath`` in pyproject.toml); a regular package wins over this folder (``tests/examples``,
no ``__init__``), which would otherwise be a namespace package of the same name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from examples_helpers import Spawned, spawn

import coordkit
from examples.order_service import OrderService
from examples.order_store import OrderStore
from examples.payment_service import PaymentService


@pytest.fixture
def payment_service(make_client: Callable[..., coordkit.Client]) -> Iterator[Callable[..., PaymentService]]:
    """Start payment-service instances in this process, each on a client of its own."""
    started: list[PaymentService] = []

    def start(instance: str) -> PaymentService:
        service = PaymentService(make_client(), instance=instance, host="127.0.0.1", advertise="127.0.0.1")
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(drain=0.1)


@pytest.fixture
def order_service(
    make_client: Callable[..., coordkit.Client], tmp_path: Path
) -> Iterator[Callable[..., OrderService]]:
    """Start order-service in this process, with a SQLite file in the test's folder."""
    started: list[OrderService] = []

    def start(instance: str = "orders-1") -> OrderService:
        store = OrderStore(str(tmp_path / f"{instance}.sqlite3"))
        service = OrderService(make_client(), store, instance=instance, port=0, host="127.0.0.1")
        service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop(drain=1.0)
        service.store.close()


@pytest.fixture
def spawned(tmp_path: Path) -> Iterator[Callable[..., Spawned]]:
    """Run ``python -m <module>`` with extra environment; every process is killed afterwards."""
    processes: list[Spawned] = []

    def start(module: str, name: str, env: dict[str, str]) -> Spawned:
        process = spawn(module, name, env, tmp_path)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()


@pytest.fixture(params=["etcd", "zookeeper"])
def server_url(request: pytest.FixtureRequest) -> str:
    """A fresh namespace on a real server (subprocesses cannot share a memory:// store), with a
    short session TTL so that a killed process's keys go quickly."""
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/ck-{uuid.uuid4().hex[:12]}?ttl=2"
