"""End to end on every backend: client.balancer() over the live discovery cache, and HTTP
through BalancedSession(client) to real local servers registered in the store."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from balancing_helpers import Instance

import coordkit
from coordkit.balancing import Balancer, NoInstanceAvailableError, by_zone
from coordkit.testing import eventually

DEADLINE = 10.0
Make = Callable[..., coordkit.Client]


def test_balancer_follows_registrations(make_client: Make) -> None:
    owner, caller = make_client(), make_client()
    owner.register("payment-service", "10.0.0.1", 8080, id="a", weight=1)
    owner.register("payment-service", "10.0.0.2", 8080, id="b", weight=3)
    with caller.balancer("payment-service", "weighted") as balancer:
        # returns after the initial read: the first picks already see both instances
        assert Counter(balancer.pick().id for _ in range(40)) == Counter({"a": 10, "b": 30})
        late = owner.register("payment-service", "10.0.0.3", 8080, id="c", weight=4)
        eventually(lambda: len(balancer.instances) == 3, message="the new instance is seen", timeout=DEADLINE)
        assert Counter(balancer.pick().id for _ in range(80)) == Counter({"a": 10, "b": 30, "c": 40})
        late.deregister()
        eventually(lambda: len(balancer.instances) == 2, message="the instance is gone", timeout=DEADLINE)
        assert {balancer.pick().id for _ in range(20)} == {"a", "b"}
        cache = balancer.source
    assert cache.stale  # the balancer closed the cache it owned


def test_balancer_options_filters_and_empty_service(make_client: Make) -> None:
    owner, caller = make_client(), make_client()
    with caller.balancer("orders", "round_robin", filters=by_zone("eu-2")) as balancer:
        with pytest.raises(NoInstanceAvailableError, match=r"'orders'.*no instance is registered"):
            balancer.pick()
        owner.register("orders", "10.0.0.1", 80, id="x", metadata={"zone": "eu-1"})
        eventually(lambda: len(balancer.instances) == 1, message="the instance is seen", timeout=DEADLINE)
        assert balancer.pick().id == "x"  # the zone preference falls back
        owner.register("orders", "10.0.0.2", 80, id="y", metadata={"zone": "eu-2"})
        eventually(
            lambda: len(balancer.instances) == 2, message="the local instance is seen", timeout=DEADLINE
        )
        assert {balancer.pick().id for _ in range(10)} == {"y"}
        assert isinstance(balancer, Balancer) and not balancer.stale


def test_http_through_discovery_with_an_instance_dying(make_client: Make) -> None:
    http = pytest.importorskip("coordkit.balancing.http")
    servers = [Instance() for _ in range(3)]
    owner, caller = make_client(), make_client()
    try:
        for k, server in enumerate(servers):
            owner.register("payment-service", "127.0.0.1", server.port, id=f"pay-{k}")
        with http.BalancedSession(caller, strategy="least_outstanding") as session:
            ports = []
            for k in range(40):
                if k == 10:
                    servers[1].stop()  # dies without deregistering, as a crashed process would
                reply = session.post("http://payment-service/payment", json={"n": k})
                assert reply.status_code == 200
                ports.append(reply.json()["port"])
            assert servers[1].port not in ports[10:]
            assert {servers[0].port, servers[2].port} <= set(ports[10:])
    finally:
        for server in servers:
            server.stop()


@pytest.mark.parametrize("kind", ["memory", "etcd"])
def test_picks_go_on_from_the_last_known_instances_while_the_store_is_unreachable(kind: str) -> None:
    from coordkit.testing import EtcdServer

    server = EtcdServer() if kind == "etcd" else None
    url = f"memory://ck-{uuid.uuid4().hex[:8]}"
    clients: list[coordkit.Client] = []
    try:
        if server is not None:
            server.start()
            url = server.url
        owner, caller = (coordkit.connect(url, ttl=3) for _ in range(2))
        clients += [owner, caller]
        owner.register("payment-service", "10.0.0.1", 80, id="a")
        owner.register("payment-service", "10.0.0.2", 80, id="b")
        balancer = caller.balancer("payment-service")
        assert not balancer.stale
        if server is not None:
            server.pause()
        else:
            for client in clients:
                client.backend.set_reachable(False)  # type: ignore[attr-defined]
        eventually(
            lambda: balancer.stale, message="the balancer says its instances are stale", timeout=DEADLINE
        )
        assert {balancer.pick().id for _ in range(10)} == {"a", "b"}  # availability first
        if server is not None:
            server.resume()
        else:
            for client in clients:
                client.backend.set_reachable(True)  # type: ignore[attr-defined]
        eventually(lambda: not balancer.stale, message="the balancer is fresh again", timeout=DEADLINE)
        balancer.close()
    finally:
        for client in clients:
            client.close()
        if server is not None:
            server.stop()


def test_a_bad_strategy_or_option_is_a_configuration_error_before_any_read(make_client: Make) -> None:
    """The typed signature refuses typos statically (tests/unit/test_typing.py); at run time the
    same mistakes are one-line ConfigurationErrors on every backend, and no cache is left open."""
    client = make_client()
    with pytest.raises(coordkit.ConfigurationError, match="unknown balancing strategy 'round_robbin'"):
        client.balancer("payment-service", "round_robbin")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="wieght"):
        client.register("payment-service", "127.0.0.1", 8080, wieght=3)  # type: ignore[call-arg]
    with client.balancer("payment-service", "peak_ewma", ejection=False, base="/services") as balancer:
        assert balancer.instances == ()
