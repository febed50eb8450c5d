"""Cluster faults under contention, judged from worker histories (3-member clusters).

Unlike test_cluster_faults.py (one client per role, in this process), these run separate
worker processes that contend all the time and log every belief; the checkers of
``coordkit.testing.history`` then judge each run as a whole.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest

import coordkit
from coordkit.testing import EtcdCluster, ZooKeeperEnsemble, eventually
from coordkit.testing._etcd import etcdctl_binary
from coordkit.testing.history import (
    check_exclusive,
    check_fenced_counter,
    check_registrations,
    check_tokens_increase,
    check_watch,
)
from coordkit.testing.proxy import FaultProxy
from coordkit.testing.workers import Worker, Workers

from .conftest import assert_api, namespaced

TTL = 2.0
DEADLINE = 40.0
Cluster = EtcdCluster | ZooKeeperEnsemble

pytestmark = pytest.mark.slow


@pytest.fixture(params=["zookeeper", "etcd"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    fixture = "zookeeper_ensemble" if request.param == "zookeeper" else "etcd_cluster"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def _more_acquisitions(workers: list[Worker], since: int, count: int) -> None:
    """Wait until the workers acquired ``count`` more times after ``since`` (work goes on)."""

    def acquired_enough() -> bool:
        got = sum(1 for w in workers for e in w.events() if e["e"] == "acquired" and e["t"] >= since)
        assert got >= count, f"only {got} acquisitions after the fault"
        return True

    eventually(
        acquired_enough, timeout=DEADLINE, interval=0.05, message=f"{count} acquisitions after the fault"
    )


def _pause_length(cluster: Cluster) -> None:
    """How long the leader stays paused. ZooKeeper: 1.5 TTL, the survivors elect another
    leader meanwhile and the sessions on it live on. etcd: until another member leads (at
    most TTL / 2). An etcd leader resumed after its leases' TTL revokes them by its own
    stopped clock, through the new leader that kept them alive (etcd-io/etcd#15247; fixed
    upstream by #16822, after the 3.4.23 and 3.5.1 these tests run): two holders at once,
    whatever a client does. A lease is renewed every TTL / 3, so none can look expired to a
    leader paused for TTL / 2 before it hears of the new term."""
    if cluster.kind != "etcd":
        time.sleep(1.5 * TTL)
        return
    # The paused member is not asked. No new leader within TTL / 2 is fine too: resume then.
    with contextlib.suppress(AssertionError):
        eventually(lambda: cluster.leader() is not None, timeout=TTL / 2, interval=0.01)


def _counter(url: str) -> int:
    with coordkit.connect(url, ttl=TTL, timeout=5) as client:
        return int(client.get_text("/counter") or "0")


def test_cluster_leader_killed_then_paused_under_contention(
    cluster: Cluster, tmp_path: Path, api: str
) -> None:
    url = namespaced(cluster)
    with Workers(tmp_path) as workers:
        contenders = [
            workers.start(
                n, "lock", url, res="jobs", counter="/counter", write_every=3, hold=0.2, ttl=TTL, api=api
            )
            for n in "abc"
        ]
        _more_acquisitions(contenders, 0, 6)
        killed = cluster.wait_for_leader()
        killed.kill()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        killed.start()
        paused = cluster.wait_healthy()
        paused.pause()
        _pause_length(cluster)
        paused.resume()
        cluster.wait_healthy()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        workers.stop()
        history = workers.history()
        assert_api(history, api)
    violations = (
        check_exclusive(history)
        + check_tokens_increase(history)
        + check_fenced_counter(history, _counter(url))
    )
    assert not violations, "\n".join(violations)


def test_etcd_leader_paused_past_the_ttl_fencing_still_refuses_the_stale_holder(
    etcd_cluster: EtcdCluster, tmp_path: Path
) -> None:
    """The etcd server bug the scenario above steps around, met head-on: the leader paused for
    1.5 TTL, so that when it resumes it may revoke leases the new leader kept alive
    (etcd-io/etcd#15247). Then two holders can believe at once for a moment, whatever a client
    does: the README says so. What must still hold is what fencing promises: tokens only grow,
    and every write the store kept came from a holder whose token was current (that a refused
    holder then stops believing at once is test_lock_faults.py's to prove)."""
    url = namespaced(etcd_cluster)
    with Workers(tmp_path) as workers:
        contenders = [
            workers.start(n, "lock", url, res="jobs", counter="/counter", write_every=1, hold=0.2, ttl=TTL)
            for n in "abc"
        ]
        _more_acquisitions(contenders, 0, 6)
        paused = etcd_cluster.wait_for_leader()
        paused.pause()
        time.sleep(1.5 * TTL)  # the fault's length: past the leases' TTL by the paused leader's clock
        paused.resume()
        etcd_cluster.wait_healthy()
        _more_acquisitions(contenders, time.monotonic_ns(), 4)
        workers.stop()
        history = workers.history()
    violations = check_tokens_increase(history) + check_fenced_counter(history, _counter(url))
    assert not violations, "\n".join(violations)


def test_semaphore_under_member_kills_and_a_paused_holder(cluster: Cluster, tmp_path: Path) -> None:
    url = namespaced(cluster)
    with Workers(tmp_path) as workers:
        keeper = workers.start("a", "semaphore", url, res="slots", limit=2, ttl=TTL)  # holds on
        keeper.wait_for("acquired", DEADLINE)
        holders = [keeper] + [
            workers.start(n, "semaphore", url, res="slots", limit=2, hold=0.3, ttl=TTL) for n in "bcd"
        ]
        _more_acquisitions(holders, 0, 6)
        cluster.members[0].kill()  # whichever role it had
        _more_acquisitions(holders, time.monotonic_ns(), 4)
        cluster.members[0].start()
        cluster.wait_healthy()
        paused = keeper.pause()
        time.sleep(2.5 * TTL)  # past the TTL: its slot must go to somebody else
        keeper.resume()
        keeper.wait_for("lost_noticed", DEADLINE, since=paused)
        _more_acquisitions(holders, time.monotonic_ns(), 4)
        workers.stop()
        history = workers.history()
    violations = check_exclusive(history, limit=2)
    assert not violations, "\n".join(violations)


def test_registrations_survive_a_whole_cluster_restart(cluster: Cluster, tmp_path: Path) -> None:
    url = namespaced(cluster)
    expected = {f"{n}-{i}" for n in "ab" for i in range(3)}
    with Workers(tmp_path) as workers:
        for n in "ab":
            workers.start(n, "register", url, res="api", count=3, ttl=TTL)
        observer = workers.start("o", "register", url, res="api", count=0, ttl=TTL)
        observer.wait_for("seen", DEADLINE, match=lambda e: set(e["ids"]) == expected)
        cluster.restart()
        cluster.wait_healthy()
        # Every registration is back (the session survived, or the registration was made
        # again on a new one), once, and the discovery cache ends showing exactly them.
        deadline = time.monotonic() + DEADLINE  # one deadline for both waits, as one wait

        def all_registered() -> bool:
            assert sorted(i.id for i in client.instances("api")) == sorted(expected), client.instances("api")
            return True

        def cache_shows_them() -> bool:
            violations = check_registrations(observer.events(), expected, "o")
            assert not violations, violations
            return True

        with coordkit.connect(url, ttl=TTL, timeout=5) as client:
            eventually(all_registered, timeout=DEADLINE, interval=0.1, message="every registration back")
        left = max(0.0, deadline - time.monotonic())
        eventually(cache_shows_them, timeout=left, interval=0.1, message="the observer's cache to show them")
        history = workers.history()
    violations = check_registrations(history, expected, "o")
    assert not violations, "\n".join(violations)


def _compact(cluster: Cluster, client: coordkit.Client) -> None:
    """Compact the etcd history up to now, so that a resuming watch cannot replay it."""
    _, revision = client.snapshot("/")
    binary = etcdctl_binary()
    assert binary, "etcdctl is needed to compact"
    subprocess.run(
        [binary, "--endpoints", ",".join(cluster.endpoints), "compact", str(revision)],
        check=True,
        capture_output=True,
        timeout=20,
    )


def test_watch_across_reset_blackhole_and_compaction(cluster: Cluster, tmp_path: Path, api: str) -> None:
    url = namespaced(cluster)
    namespace = "/" + url.rsplit("/", 1)[1]
    written: dict[str, list[str | None]] = {f"/w/k{i}": [] for i in range(3)}
    with (
        FaultProxy(cluster.endpoints) as proxy,
        Workers(tmp_path) as workers,
        coordkit.connect(url, ttl=TTL, timeout=5) as writer,
    ):
        watcher = workers.start(
            "w", "watch", proxy.url(cluster.scheme, namespace), res="/w", ttl=TTL, api=api
        )
        watcher.wait_for("watching", DEADLINE)
        step = iter(range(10_000))

        def write_round() -> None:
            for key, values in written.items():
                value = f"v{next(step)}"
                writer.put(key, value)
                values.append(value)

        write_round()
        proxy.reset()
        write_round()
        proxy.blackhole()
        for _ in range(3):
            write_round()
        writer.delete("/w/k2")
        written["/w/k2"].append(None)  # a delete, in its place among the writes
        if cluster.kind == "etcd":
            _compact(cluster, writer)
        time.sleep(TTL)  # the cut lasts a TTL: the watcher's session is lost, its watch resumes
        proxy.heal()
        write_round()
        final = {key: values[-1] for key, values in written.items()}
        watcher.wait_for(
            "watch", DEADLINE, match=lambda e: e["key"] == "/w/k0" and e["value"] == final["/w/k0"]
        )
        store = {key: writer.get_text(key) for key in written}

        def watch_saw_every_write() -> bool:
            violations = check_watch(watcher.events(), written, store)
            assert not violations, violations
            return True

        eventually(
            watch_saw_every_write, timeout=DEADLINE, interval=0.05, message="the watch to see every write"
        )
        history = workers.history()
        assert_api(history, api)
    assert not check_watch(history, written, store, watcher="w")
