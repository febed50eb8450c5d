"""Instance status on every backend: drain() and up() change a live registration in the
ecosystem's layout; caches and balancers elsewhere skip what is not up, by default and
visibly; the status survives a new session; bad input is refused alike everywhere."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from ops_helpers import eventually

import coordkit
from coordkit.backends.base import Layout
from coordkit.discovery.formats import CURATOR, ETCD_ENDPOINTS
from coordkit.discovery.instance import ServiceInstance

DEADLINE = 15.0
MakeClient = Callable[..., coordkit.Client]


def _ids(instances: tuple[ServiceInstance, ...] | list[ServiceInstance]) -> list[str]:
    return sorted(i.id for i in instances)


def test_a_drained_instance_leaves_caches_and_balancers_elsewhere(make_client: MakeClient) -> None:
    owner, reader = make_client(), make_client()
    a = owner.register("api", "127.0.0.1", 8001, id="a")
    owner.register("api", "127.0.0.1", 8002, id="b")
    up_only, everything = reader.discover("api"), reader.discover("api", statuses=None)
    with up_only, everything, reader.balancer("api") as balancer:
        assert up_only.wait_for(lambda found: _ids(found) == ["a", "b"], DEADLINE)
        drained = a.drain("deploy 42")
        assert drained.status == "draining" and drained.status_reason == "deploy 42"
        assert up_only.wait_for(lambda found: _ids(found) == ["b"], DEADLINE)
        assert everything.wait_for(
            lambda found: (
                [(i.id, i.status, i.status_reason) for i in found]
                == [("a", "draining", "deploy 42"), ("b", "up", "")]
            ),
            DEADLINE,
        )
        # The balancer's set is precomputed on the change: every pick now goes to b.
        eventually(lambda: [i.id for i in balancer.eligible] == ["b"], "b alone in the balancer's rotation")
        assert {balancer.pick().id for _ in range(10)} == {"b"}
        assert _ids(balancer.instances) == ["a", "b"]  # still listed: visible, not gone
        a.up()
        assert up_only.wait_for(lambda found: _ids(found) == ["a", "b"], DEADLINE)
        eventually(lambda: _ids(balancer.eligible) == ["a", "b"], "a back in the balancer's rotation")
        assert [i.status_reason for i in reader.instances("api")] == ["", ""]


def test_a_balancer_can_pick_drained_instances_when_asked(make_client: MakeClient) -> None:
    owner, reader = make_client(), make_client()
    owner.register("api", "127.0.0.1", 8001, id="a").drain()
    with reader.balancer("api", statuses=("up", "draining")) as balancer:
        assert balancer.pick().id == "a"
    with reader.balancer("api") as default, pytest.raises(coordkit.NoInstanceAvailableError):
        default.pick()


def test_the_status_is_in_the_ecosystems_layout(make_client: MakeClient) -> None:
    client = make_client()
    reg = client.register("api", "127.0.0.1", 8001, id="a")
    plain = client.get(reg.key)
    assert plain is not None
    before = json.loads(plain.value)
    reg.drain("maintenance window")
    entry = client.get(reg.key)
    assert entry is not None
    data = json.loads(entry.value)
    if client.backend.capabilities.layout is Layout.ETCD:
        assert "status" not in before["Metadata"]  # an up instance's value is as before statuses
        assert data["Metadata"]["status"] == "draining"
        assert data["Metadata"]["statusReason"] == "maintenance window"
        assert data["Addr"] == "127.0.0.1:8001"
    else:
        assert "status" not in before and "enabled" not in before
        assert data["enabled"] is False  # Curator 5's own field: ServiceInstance.isEnabled()
        assert data["status"] == "draining" and data["statusReason"] == "maintenance window"
    reg.up()
    back = client.get(reg.key)
    assert back is not None and json.loads(back.value) == before


def test_a_drained_instance_stays_drained_on_a_new_session(make_client: MakeClient) -> None:
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    reg.drain("draining for good")
    with reader.discover("api", statuses=None) as cache:
        generation = owner.session.generation
        owner.expire_session()
        assert owner.session.wait_for(coordkit.SessionState.CONNECTED, DEADLINE)
        assert owner.session.generation > generation
        assert cache.wait_for(
            lambda found: len(found) == 1 and found[0].status == "draining" and reg.registered, DEADLINE
        )


def test_bad_status_input_is_refused(make_client: MakeClient) -> None:
    client = make_client()
    reg = client.register("api", "127.0.0.1", 8001, id="a")
    with pytest.raises(coordkit.ConfigurationError, match="status must be one of"):
        reg.update(status="sleeping")
    with pytest.raises(coordkit.ConfigurationError, match="reason"):
        reg.drain(reason=42)  # type: ignore[arg-type]
    with pytest.raises(coordkit.ConfigurationError, match="reason"):
        reg.drain(reason="line\nbreak")
    with pytest.raises(coordkit.ConfigurationError, match="statuses"):
        client.discover("api", statuses="up")  # type: ignore[arg-type]
    with pytest.raises(coordkit.ConfigurationError, match="statuses"):
        client.balancer("api", statuses=("sideways",))
    assert reg.instance.status == "up"  # nothing was changed by the refusals


@pytest.mark.parametrize("fmt", [CURATOR, ETCD_ENDPOINTS], ids=lambda f: f.name)
def test_statuses_round_trip_through_both_formats(fmt: object) -> None:
    for status, reason in (("up", ""), ("draining", "deploy"), ("down", "")):
        instance = ServiceInstance("api", "a", "10.0.0.1", 80, status=status, status_reason=reason)
        assert fmt.decode("api", "a", fmt.encode(instance)) == instance  # type: ignore[attr-defined]


def test_other_tools_statuses_are_read_safely() -> None:
    base = {"name": "api", "id": "a", "address": "10.0.0.1", "port": 80}
    read = [
        CURATOR.decode("api", "a", json.dumps(base | extra).encode()).status
        for extra in (
            {},
            {"enabled": True},
            {"enabled": False},
            {"status": "OUT_OF_SERVICE"},
            {"status": "weird"},
        )
    ]
    assert read == ["up", "up", "draining", "draining", "down"]
