"""On etcd, registrations are etcd's gRPC naming endpoints: checked with the real etcdctl.

What etcd's resolver reads: every key under ``<target>/`` holds ``{"Op": 0, "Addr":
"host:port", "Metadata": ...}``, and a registration's key is bound to the session's lease.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.testing import etcd_binary, etcdctl_binary

DEADLINE = 10.0


def _etcdctl_path() -> str:
    path = etcdctl_binary(etcd_binary())
    if path is None:
        pytest.fail("etcdctl not found: run scripts/install-servers.sh (apt-get install etcd-client)")
    return str(path)


@pytest.fixture
def etcd(etcd_server: object) -> Iterator[tuple[coordkit.Client, str, list[str]]]:
    """A client in a fresh namespace, the namespace, and the server's endpoints."""
    namespace = f"/ck-{uuid.uuid4().hex[:12]}"
    with coordkit.connect(f"{etcd_server.url}{namespace}", ttl=5) as client:  # type: ignore[attr-defined]
        yield client, namespace, list(etcd_server.endpoints)  # type: ignore[attr-defined]


def etcdctl(endpoints: list[str], *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    done = subprocess.run(
        [_etcdctl_path(), "--endpoints", ",".join(endpoints), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_stored_key_and_value_are_the_naming_endpoints_layout(etcd: tuple) -> None:
    client, namespace, endpoints = etcd
    reg = client.register("payment", "10.0.0.7", 8080, id="i-1", metadata={"zone": "eu-1"}, weight=2)
    lines = etcdctl(endpoints, "get", "--prefix", f"{namespace}/services/payment/").splitlines()
    assert lines[0] == f"{namespace}/services/payment/i-1"
    assert json.loads(lines[1]) == {
        "Op": 0,
        "Addr": "10.0.0.7:8080",
        "Metadata": {
            "weight": 2,
            "metadata": {"zone": "eu-1"},
            "registrationTimeUTC": reg.instance.registered_at,
        },
    }
    assert len(lines) == 2
    kvs = json.loads(etcdctl(endpoints, "get", "-w", "json", f"{namespace}/services/payment/i-1"))["kvs"]
    assert kvs[0]["lease"] == client.session.session_id  # bound to the session's lease


def test_endpoints_written_by_etcdctl_show_up_in_the_cache(
    etcd: tuple, caplog: pytest.LogCaptureFixture
) -> None:
    client, namespace, endpoints = etcd
    target = f"{namespace}/services/payment"
    with caplog.at_level(logging.WARNING, logger="coordkit"), client.discover("payment") as cache:
        # etcd 3.5's endpoints.Manager form, then etcd 3.4's naming.Update form.
        etcdctl(endpoints, "put", f"{target}/e1", '{"Addr":"10.1.1.1:9000","Metadata":"opaque"}')
        etcdctl(
            endpoints,
            "put",
            f"{target}/e2",
            '{"Op":0,"Addr":"[fd00::2]:9001","Metadata":{"weight":4,"metadata":{"zone":"b"}}}',
        )
        etcdctl(endpoints, "put", f"{target}/e3", "not json")
        assert cache.wait_for(lambda found: [i.id for i in found] == ["e1", "e2"], DEADLINE)
        e1, e2 = cache.instances
        assert (e1.address, e1.port, e1.weight, dict(e1.metadata)) == ("10.1.1.1", 9000, 1, {})
        assert (e2.endpoint, e2.weight, dict(e2.metadata)) == ("[fd00::2]:9001", 4, {"zone": "b"})
        etcdctl(endpoints, "del", f"{target}/e1")
        assert cache.wait_for(lambda found: [i.id for i in found] == ["e2"], DEADLINE)
    assert any("/services/payment/e3" in r.getMessage() for r in caplog.records)
    assert [i.id for i in client.instances("payment")] == ["e2"]
