"""The requests integration against real local HTTP servers (three instances on 127.0.0.1)."""

from __future__ import annotations

import importlib
import json
import sys
from collections import Counter
from collections.abc import Iterator

import pytest
from balancing_helpers import Instance

from coordkit.balancing import Balancer, NoInstanceAvailableError, OutlierEjection, StaticInstances
from coordkit.discovery.instance import ServiceInstance

http = pytest.importorskip("coordkit.balancing.http")


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    servers = [Instance() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def _service(servers: list[Instance]) -> StaticInstances:
    return StaticInstances(
        [ServiceInstance("payment-service", f"pay-{k}", "127.0.0.1", s.port) for k, s in enumerate(servers)]
    )


def _session(servers: list[Instance], **options: object) -> tuple[Balancer, object]:
    balancer = Balancer(
        _service(servers), "round_robin", ejection=OutlierEjection(consecutive_failures=3, base_time=60)
    )
    return balancer, http.BalancedSession(balancers={"payment-service": balancer}, **options)


def test_requests_spread_over_instances_with_the_service_as_host(instances: list[Instance]) -> None:
    _, session = _session(instances)
    with session:
        replies = [
            session.post("http://payment-service/payment", json={"amount": k}).json() for k in range(30)
        ]
    assert Counter(r["port"] for r in replies) == Counter({s.port: 10 for s in instances})
    assert {r["host"] for r in replies} == {"payment-service"}
    assert {r["path"] for r in replies} == {"/payment"}
    assert json.loads(replies[7]["body"]) == {"amount": 7}


def test_host_header_can_name_the_instance(instances: list[Instance]) -> None:
    _, session = _session(instances, host_header="instance")
    with session:
        reply = session.get("http://payment-service/x?q=1")
    assert reply.json()["host"] == f"127.0.0.1:{reply.json()['port']}"
    assert reply.json()["path"] == "/x?q=1"
    assert reply.url == "http://payment-service/x?q=1"  # what the caller asked for


def test_a_500ing_instance_is_retried_elsewhere_and_ejected(instances: list[Instance]) -> None:
    instances[1].status = 500
    balancer, session = _session(instances)
    with session:
        replies = [session.get("http://payment-service/balance") for _ in range(30)]
    assert all(r.status_code == 200 for r in replies)
    assert {r.json()["port"] for r in replies} == {instances[0].port, instances[2].port}
    assert [i.port for i in balancer.ejected] == [instances[1].port]
    assert instances[1].hits == 3  # three failures in a row, then out of rotation


def test_post_is_not_repeated_after_a_5xx_but_counts_against_the_instance(instances: list[Instance]) -> None:
    for server in instances:
        server.status = 503
    _, session = _session(instances)
    with session:
        reply = session.post("http://payment-service/payment", json={"amount": 1})
    assert reply.status_code == 503  # the caller sees the reply, as without a balancer
    assert sum(s.hits for s in instances) == 1  # a payment may have been taken: no retry


def test_instance_shut_down_mid_traffic(instances: list[Instance]) -> None:
    balancer, session = _session(instances)
    statuses: list[int] = []
    with session:
        for k in range(60):
            if k == 20:
                instances[0].stop()  # connections are refused from now on
            reply = session.post("http://payment-service/payment", json={"n": k})
            statuses.append(reply.status_code)
            if k >= 20:
                assert reply.json()["port"] != instances[0].port
    assert statuses == [200] * 60  # refused connects are retried whatever the method
    assert [i.port for i in balancer.ejected] == [instances[0].port]


def test_every_instance_down_raises_the_connection_error(instances: list[Instance]) -> None:
    import requests

    _, session = _session(instances)
    for server in instances:
        server.stop()
    with session, pytest.raises(requests.ConnectionError):
        session.get("http://payment-service/")


def test_direct_urls_are_not_balanced(instances: list[Instance]) -> None:
    _, session = _session(instances)
    target = instances[2].port
    with session:
        assert session.get(f"http://127.0.0.1:{target}/").json()["port"] == target
        assert session.get(f"http://localhost:{target}/").json()["port"] == target


def test_unknown_service_through_a_client_resolver_raises_no_instance(instances: list[Instance]) -> None:
    adapter = http.BalancingAdapter(lambda host: Balancer(StaticInstances([], name=host)))
    import requests

    with requests.Session() as session:
        session.mount("http://", adapter)
        with pytest.raises(NoInstanceAvailableError, match="'orders'") as excinfo:
            session.get("http://orders/")
    # also what requests users already catch for an unknown host
    assert isinstance(excinfo.value, requests.ConnectionError)
    assert excinfo.value.request.url == "http://orders/"


def test_missing_requests_gives_install_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "coordkit.balancing.http")
    with pytest.raises(ImportError, match=r"pip install 'coordkit\[http\]'"):
        importlib.import_module("coordkit.balancing.http")
