"""Discovery, balancing and configuration on every backend: cache sizes, picks, failures,
ejections, readmissions, retries, the retry budget, and config changes applied or rejected."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from metrics_helpers import DEADLINE, Recording, eventually, sample

import coordkit
from coordkit.balancing import OutlierEjection, RetryBudget

MakeClient = Callable[..., coordkit.Client]


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Two real TCP services on loopback ports (a test closes one to kill it)."""
    socks = []
    for _ in range(2):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        socks.append(sock)
    yield socks
    for sock in socks:
        sock.close()


def _connect(instance: coordkit.ServiceInstance) -> str:
    """One request: a TCP connect to the instance (refused once it is killed)."""
    with socket.create_connection((instance.address, instance.port), timeout=2):
        return instance.id


def test_discovery_cache_sizes_follow_registrations(recording: Recording, make_client: MakeClient) -> None:
    server, reader = make_client(), make_client()
    reg = recording.registry
    first = server.register("api", "127.0.0.1", 8001, id="a")
    server.register("api", "127.0.0.1", 8002, id="b")
    cache = reader.discover("api")
    assert sample(reg, "coordkit_discovery_instances") == 2
    assert sample(reg, "coordkit_discovery_instances_up") == 2
    first.drain("deploy")
    assert cache.wait_for(lambda instances: [i.id for i in instances] == ["b"], DEADLINE)
    eventually(lambda: sample(reg, "coordkit_discovery_instances_up") == 1, "the up gauge follows the drain")
    assert sample(reg, "coordkit_discovery_instances") == 2  # still registered, still counted
    first.deregister()
    assert cache.wait_for(lambda instances: len(instances) == 1, DEADLINE)
    eventually(lambda: sample(reg, "coordkit_discovery_instances") == 1, "the gauge follows the cache")
    cache.close()
    assert sample(reg, "coordkit_discovery_instances") == 0


def test_per_service_instance_counts_only_when_opted_in(
    recording: Recording, make_client: MakeClient
) -> None:
    """Service names as label values are opt-in (unbounded in general): without
    ``service_labels=True`` no per-service sample exists; with it, each service's instances,
    total and up, follow registrations, drains and the cache's close."""
    server, reader = make_client(), make_client()
    reg = recording.registry
    server.register("api", "127.0.0.1", 8001, id="a")
    cache = reader.discover("api")
    assert sample(reg, "coordkit_discovery_instances") == 1
    assert sample(reg, "coordkit_discovery_service_instances", service="api") == 0  # not asked for
    cache.close()
    coordkit.metrics.enable(registry=reg, service_labels=True)
    api = reader.discover("api")
    drained = server.register("api", "127.0.0.1", 8002, id="b")
    assert api.wait_for(lambda instances: len(instances) == 2, DEADLINE)
    web = reader.discover("web")
    server.register("web", "127.0.0.1", 8003, id="c")
    assert web.wait_for(lambda instances: len(instances) == 1, DEADLINE)
    drained.drain("deploy")
    assert api.wait_for(lambda instances: [i.id for i in instances] == ["a"], DEADLINE)
    eventually(
        lambda: sample(reg, "coordkit_discovery_service_instances_up", service="api") == 1,
        "api's up count follows the drain",
    )
    assert sample(reg, "coordkit_discovery_service_instances", service="api") == 2
    assert sample(reg, "coordkit_discovery_service_instances", service="web") == 1
    assert sample(reg, "coordkit_discovery_service_instances_up", service="web") == 1
    api.close()
    assert sample(reg, "coordkit_discovery_service_instances", service="api") == 0
    assert sample(reg, "coordkit_discovery_service_instances", service="web") == 1
    web.close()


def test_a_killed_instance_is_ejected_counted_and_readmitted(
    recording: Recording, make_client: MakeClient, listeners: list[socket.socket]
) -> None:
    server, caller = make_client(), make_client()
    reg = recording.registry
    for k, sock in enumerate(listeners):
        server.register("pay", "127.0.0.1", sock.getsockname()[1], id=f"pay-{k}")
    now = [0.0]
    ejection = OutlierEjection(consecutive_failures=2, base_time=10, clock=lambda: now[0])
    with caller.balancer("pay", ejection=ejection) as balancer:
        eventually(lambda: len(balancer.eligible) == 2, "both instances in rotation")
        listeners[0].close()  # killed: its port refuses connections from now on
        answered = [balancer.call(_connect) for _ in range(6)]
        assert set(answered) == {"pay-1"}  # every failure was retried on the live one
        assert sample(reg, "coordkit_balancer_ejections_total") == 1
        assert sample(reg, "coordkit_balancer_failures_total") == 2
        assert sample(reg, "coordkit_balancer_retries_total") == 2
        assert sample(reg, "coordkit_balancer_picks_total", outcome="picked") == 8
        assert [i.id for i in balancer.ejected] == ["pay-0"]
        now[0] = 11.0  # its ejection time is up
        balancer.pick()
        assert sample(reg, "coordkit_balancer_readmissions_total") == 1


def test_no_instance_and_an_exhausted_budget_are_counted(
    recording: Recording, make_client: MakeClient, listeners: list[socket.socket]
) -> None:
    server, caller = make_client(), make_client()
    reg = recording.registry
    with caller.balancer("empty") as empty, pytest.raises(coordkit.NoInstanceAvailableError):
        empty.pick()
    assert sample(reg, "coordkit_balancer_picks_total", outcome="no_instance") == 1
    server.register("tight", "127.0.0.1", listeners[0].getsockname()[1], id="only")
    listeners[0].close()
    budget = RetryBudget(ratio=0, min_per_second=0)
    with caller.balancer("tight", ejection=False, budget=budget) as balancer:
        eventually(lambda: len(balancer.eligible) == 1, "the instance in rotation")
        with pytest.raises(ConnectionRefusedError):
            balancer.call(_connect)
    assert sample(reg, "coordkit_balancer_retry_budget_exhausted_total") == 1
    assert sample(reg, "coordkit_balancer_retries_total") == 0


def test_config_changes_applied_and_rejected(recording: Recording, make_client: MakeClient) -> None:
    client = make_client()
    reg = recording.registry
    with client.config("shop") as cfg:
        client.put("/config/shop/timeout", "5")
        assert cfg.wait_until(lambda snapshot: snapshot.get("timeout") == 5, DEADLINE)
        assert sample(reg, "coordkit_config_changes_total", outcome="applied") == 1
        client.put("/config/shop/timeout", "{bad json")
        eventually(
            lambda: sample(reg, "coordkit_config_changes_total", outcome="rejected") == 1,
            "the invalid value is rejected",
        )
        assert cfg.get("timeout") == 5  # readers keep the last valid value
        assert sample(reg, "coordkit_config_changes_total", outcome="applied") == 1
