"""Fault-injection fixtures: one backend made unreachable and reachable again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from coordkit.testing import EtcdCluster, Outage, ZooKeeperEnsemble

__all__ = ["Outage", "namespaced", "outage", "shared_cluster"]


@pytest.fixture(params=["sync", "async"])
def api(request: pytest.FixtureRequest) -> str:
    """Which API the scenario's workers contend through: ``coordkit`` or ``coordkit.aio``
    (issue 13: the fault scenarios that apply run with async workers too)."""
    return str(request.param)


def assert_api(history: list[dict[str, Any]], api: str) -> None:
    """Every worker of the run connected through ``api`` (a worker logs ``api`` when async)."""
    connected = [e for e in history if e["e"] == "connected"]
    assert connected, "no worker connected"
    assert {e.get("api", "sync") for e in connected} == {api}, connected


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    with Outage(request.param) as o:
        yield o


@pytest.fixture(scope="module", params=["zookeeper", "etcd"])
def shared_cluster(request: pytest.FixtureRequest) -> Iterator[EtcdCluster | ZooKeeperEnsemble]:
    """One 3-member cluster per backend for a module's client-fault scenarios (the
    scenarios break links and clients, never the members, so they can share it)."""
    cluster: EtcdCluster | ZooKeeperEnsemble = (
        ZooKeeperEnsemble(3) if request.param == "zookeeper" else EtcdCluster(3)
    )
    with cluster:
        yield cluster


def namespaced(cluster: EtcdCluster | ZooKeeperEnsemble, endpoints: list[str] | None = None) -> str:
    """A URL with a fresh namespace on ``cluster`` (through ``endpoints``, e.g. a proxy's)."""
    where = ",".join(endpoints if endpoints is not None else cluster.endpoints)
    return f"{cluster.scheme}://{where}/faults-{uuid.uuid4().hex[:10]}"
