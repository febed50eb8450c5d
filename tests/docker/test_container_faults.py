"""Container faults under contention, judged by the history checkers of coordkit.testing.history:
three lock workers (separate processes) contend on a 3-member cluster of containers while its
leader's container is frozen (``docker pause``) or killed (``docker kill``, then a new container
on the same data). The checkers judge the whole run: never two holders at once, fencing tokens
that only grow, and a fenced counter that counts every write the holders believed they made."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

import coordkit
from coordkit.testing import EtcdCluster, ZooKeeperEnsemble, eventually
from coordkit.testing.docker import DockerEtcdCluster, DockerZooKeeperEnsemble
from coordkit.testing.history import check_exclusive, check_fenced_counter, check_tokens_increase
from coordkit.testing.workers import Worker, Workers

pytestmark = pytest.mark.docker

TTL = 2.0
DEADLINE = 40.0
Cluster = EtcdCluster | ZooKeeperEnsemble


@pytest.fixture(params=["zookeeper", "etcd"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    fixture = "zookeeper_ensemble" if request.param == "zookeeper" else "etcd_cluster"
    found: Cluster = request.getfixturevalue(fixture)
    assert isinstance(found, DockerEtcdCluster | DockerZooKeeperEnsemble), "docker mode gives containers"
    return found


def _more_acquisitions(workers: list[Worker], since: int, count: int) -> None:
    """Wait until the workers acquired ``count`` more times after ``since`` (work goes on)."""

    def acquired_enough() -> bool:
        got = sum(1 for w in workers for e in w.events() if e["e"] == "acquired" and e["t"] >= since)
        assert got >= count, f"only {got} acquisitions after the fault"
        return True

    eventually(
        acquired_enough, timeout=DEADLINE, interval=0.05, message=f"{count} acquisitions after the fault"
    )


def _judge(url: str, workers: Workers) -> None:
    history = workers.history()
    with coordkit.connect(url, ttl=TTL, timeout=5) as client:
        counter = int(client.get_text("/counter") or "0")
    violations = (
        check_exclusive(history) + check_tokens_increase(history) + check_fenced_counter(history, counter)
    )
    assert not violations, "\n".join(violations)
    assert counter > 0, "the holders wrote nothing: the scenario checked nothing"


def _contenders(workers: Workers, url: str) -> list[Worker]:
    return [
        workers.start(n, "lock", url, res="jobs", counter="/counter", write_every=3, hold=0.2, ttl=TTL)
        for n in "abc"
    ]


def test_the_leaders_container_paused_under_contention(cluster: Cluster, tmp_path: Path) -> None:
    url = f"{cluster.url}/docker-{uuid.uuid4().hex[:10]}"
    with Workers(tmp_path) as workers:
        contenders = _contenders(workers, url)
        _more_acquisitions(contenders, 0, 6)
        frozen = cluster.wait_for_leader()
        frozen.pause()
        try:
            # Work goes on without the frozen member: the other two elect a leader meanwhile.
            _more_acquisitions(contenders, time.monotonic_ns(), 4)
        finally:
            frozen.resume()
        cluster.wait_healthy()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        workers.stop()
        _judge(url, workers)


def test_the_leaders_container_killed_under_contention(cluster: Cluster, tmp_path: Path) -> None:
    url = f"{cluster.url}/docker-{uuid.uuid4().hex[:10]}"
    with Workers(tmp_path) as workers:
        contenders = _contenders(workers, url)
        _more_acquisitions(contenders, 0, 6)
        killed = cluster.wait_for_leader()
        killed.kill()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        killed.start()  # a new container on the killed one's data and ports: it rejoins
        cluster.wait_healthy()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        workers.stop()
        _judge(url, workers)
