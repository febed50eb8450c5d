"""The wire formats and the validation at the edge (no server needed, memory for the client)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.discovery import ServiceInstance
from coordkit.discovery.formats import (
    CURATOR,
    ETCD_ENDPOINTS,
    InstanceFormatError,
    format_for,
    split_endpoint,
)

INSTANCE = ServiceInstance(
    name="payment",
    id="a1",
    address="10.0.0.7",
    port=8080,
    metadata={"zone": "eu-1"},
    weight=3,
    registered_at=1_700_000_000_000,
)


def test_curator_json_has_curators_fields_and_ours_on_top() -> None:
    assert json.loads(CURATOR.encode(INSTANCE)) == {
        "name": "payment",
        "id": "a1",
        "address": "10.0.0.7",
        "port": 8080,
        "sslPort": None,
        "payload": None,
        "registrationTimeUTC": 1_700_000_000_000,
        "serviceType": "DYNAMIC",
        "uriSpec": None,
        "weight": 3,
        "metadata": {"zone": "eu-1"},
    }


def test_etcd_value_is_the_grpc_naming_update() -> None:
    assert json.loads(ETCD_ENDPOINTS.encode(INSTANCE)) == {
        "Op": 0,
        "Addr": "10.0.0.7:8080",
        "Metadata": {"weight": 3, "metadata": {"zone": "eu-1"}, "registrationTimeUTC": 1_700_000_000_000},
    }


@pytest.mark.parametrize("fmt", [CURATOR, ETCD_ENDPOINTS], ids=lambda f: f.name)
@pytest.mark.parametrize(
    "instance",
    [
        INSTANCE,
        ServiceInstance(
            name="payment",
            id="v6",
            address="::1",
            port=443,
            ssl_port=8443,
            uri_spec={"parts": [{"value": "scheme", "variable": True}]},
        ),
    ],
    ids=["v4", "v6-ssl-urispec"],
)
def test_round_trip(fmt: object, instance: ServiceInstance) -> None:
    assert fmt.decode(instance.name, instance.id, fmt.encode(instance)) == instance  # type: ignore[attr-defined]


def test_memory_and_zookeeper_use_curator_etcd_uses_endpoints() -> None:
    from coordkit.backends.etcd.backend import EtcdBackend
    from coordkit.backends.memory import MemoryBackend
    from coordkit.backends.zookeeper.backend import ZooKeeperBackend

    layouts = [b.capabilities.layout for b in (MemoryBackend, ZooKeeperBackend, EtcdBackend)]
    assert [format_for(layout) for layout in layouts] == [CURATOR, CURATOR, ETCD_ENDPOINTS]


def test_spring_cloud_payload_metadata_is_read() -> None:
    value = json.dumps(
        {
            "name": "payment",
            "id": "s1",
            "address": "h",
            "port": 80,
            "payload": {
                "@class": "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
                "id": "payment",
                "name": "payment",
                "metadata": {"instance_status": "UP"},
            },
        }
    )
    found = CURATOR.decode("payment", "s1", value.encode())
    assert found.metadata == {"instance_status": "UP"} and found.weight == 1


def test_curator_instance_with_only_an_ssl_port_is_reachable_there() -> None:
    value = json.dumps({"name": "p", "id": "x", "address": "h", "port": None, "sslPort": 8443})
    assert CURATOR.decode("p", "x", value.encode()).port == 8443


def test_foreign_etcd_endpoints_read_with_defaults() -> None:
    found = ETCD_ENDPOINTS.decode("payment", "e1", b'{"Addr":"[fe80::1]:9000","Metadata":"opaque"}')
    assert (found.address, found.port, found.weight, dict(found.metadata)) == ("fe80::1", 9000, 1, {})


@pytest.mark.parametrize(
    "fmt, value, reason",
    [
        (CURATOR, b"not json", "not JSON"),
        (CURATOR, b"[1, 2]", "not an object"),
        (CURATOR, b'{"port": 80}', "no address"),
        (CURATOR, b'{"address": "h", "port": 70000}', "not a port"),
        (CURATOR, b'{"address": "h", "port": 80, "weight": 0}', "weight"),
        (ETCD_ENDPOINTS, b'{"Addr": "h"}', "host:port"),
        (ETCD_ENDPOINTS, b'{"Op": 1, "Addr": "h:1"}', "Op"),
        (ETCD_ENDPOINTS, b'{"Addr": "::1:80"}', "brackets"),
        (ETCD_ENDPOINTS, b"\xff\xfe", "not JSON"),
    ],
)
def test_unusable_values_raise_format_error(fmt: object, value: bytes, reason: str) -> None:
    with pytest.raises(InstanceFormatError, match=reason):
        fmt.decode("s", "i", value)  # type: ignore[attr-defined]


def test_split_endpoint() -> None:
    assert split_endpoint("10.0.0.7:80") == ("10.0.0.7", 80)
    assert split_endpoint("[::1]:80") == ("::1", 80)
    with pytest.raises(InstanceFormatError):
        split_endpoint("10.0.0.7")


# --- validation at the edge ------------------------------------------------------------------
@pytest.fixture
def memory_client() -> Iterator[coordkit.Client]:
    with coordkit.connect("memory://formats-validation") as client:
        yield client


@pytest.mark.parametrize(
    "args, options, error, fragment",
    [
        (("a/b", "h", 80), {}, coordkit.InvalidNameError, "single segment"),
        (("", "h", 80), {}, coordkit.InvalidNameError, "empty"),
        (("p", "h", 80), {"id": "x/y"}, coordkit.InvalidNameError, "single segment"),
        (("p", "h", 80), {"id": ".."}, coordkit.InvalidNameError, "relative"),
        (("p", "h:80", 80), {}, coordkit.ConfigurationError, "port separately"),
        (("p", "", 80), {}, coordkit.ConfigurationError, "non-empty"),
        (("p", "a b", 80), {}, coordkit.ConfigurationError, "host name"),
        (("p", "h", 0), {}, coordkit.ConfigurationError, "1 to 65535"),
        (("p", "h", True), {}, coordkit.ConfigurationError, "1 to 65535"),
        (("p", "h", "80"), {}, coordkit.ConfigurationError, "1 to 65535"),
        (("p", "h", 80), {"weight": 0}, coordkit.ConfigurationError, "weight"),
        (("p", "h", 80), {"weight": 1.5}, coordkit.ConfigurationError, "weight"),
        (("p", "h", 80), {"metadata": {"k": 1}}, coordkit.ConfigurationError, "must be a str"),
        (("p", "h", 80), {"metadata": {"": "v"}}, coordkit.ConfigurationError, "non-empty"),
        (("p", "h", 80), {"metadata": ["k"]}, coordkit.ConfigurationError, "mapping"),
        (("p", "h", 80), {"ssl_port": 99999}, coordkit.ConfigurationError, "ssl_port"),
        (("p", "h", 80), {"uri_spec": 5}, coordkit.ConfigurationError, "uri_spec"),
        (("p", "h", 80), {"base": "a//b"}, coordkit.InvalidNameError, "empty segment"),
    ],
)
def test_register_refuses_bad_arguments_and_writes_nothing(
    memory_client: coordkit.Client, args: tuple, options: dict, error: type, fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        memory_client.register(*args, **options)
    assert memory_client.tree("/") == []


def test_ipv6_addresses_are_normalised_and_uri_templates_parsed(memory_client: coordkit.Client) -> None:
    with memory_client.register("p", "[::1]", 80, uri_spec="{scheme}://{address}:{port}/x") as reg:
        assert reg.instance.address == "::1" and reg.instance.endpoint == "[::1]:80"
        parts = reg.instance.uri_spec["parts"]
        assert [p["value"] for p in parts] == ["scheme", "://", "address", ":", "port", "/x"]
        assert [p["variable"] for p in parts] == [True, False, True, False, True, False]


def test_discover_and_instances_validate_the_name(memory_client: coordkit.Client) -> None:
    with pytest.raises(coordkit.InvalidNameError):
        memory_client.discover("a/b")
    with pytest.raises(coordkit.InvalidNameError):
        memory_client.instances("")
