"""Correct against 3-node clusters whose members fail: the scaling engine is the cluster.

A client given every member's endpoint rides out the loss of any one member (the leader
included): its session survives, a lock it holds stays held and exclusive, waiters are
still admitted in order, and watches deliver every change.
"""

from __future__ import annotations

import threading

import pytest

import coordkit
from coordkit.testing import EtcdCluster, ZooKeeperEnsemble, eventually

DEADLINE = 30.0


@pytest.fixture(params=["zookeeper", "etcd"])
def cluster(request: pytest.FixtureRequest) -> EtcdCluster | ZooKeeperEnsemble:
    fixture = "zookeeper_ensemble" if request.param == "zookeeper" else "etcd_cluster"
    return request.getfixturevalue(fixture)  # type: ignore[no-any-return]


def _connect(cluster: EtcdCluster | ZooKeeperEnsemble) -> coordkit.Client:
    return coordkit.connect(cluster.url + "/cluster-test", ttl=10, timeout=5)


def _until_written(client: coordkit.Client, key: str, value: str, fence: coordkit.Lock) -> None:
    """Retry a fenced write through the failover: a write cut by the leader's death raises
    BackendUnavailableError (it may or may not have happened), and writing again is safe."""

    def write() -> bool:
        client.put(key, value, fence=fence)
        return True

    eventually(
        write,
        timeout=DEADLINE,
        interval=0.1,
        ignoring=(coordkit.BackendUnavailableError,),
        message=f"{key} to be written after the failover",
    )


def test_lock_survives_the_leader_dying(cluster: EtcdCluster | ZooKeeperEnsemble) -> None:
    holder, waiter, watcher = _connect(cluster), _connect(cluster), _connect(cluster)
    try:
        # lose_on_suspend=False: a failover's brief SUSPENDED does not end ownership; only
        # the session's loss would.
        lock = holder.lock("jobs", lose_on_suspend=False)
        assert lock.acquire()
        token = lock.token
        session_id = holder.session.session_id
        events = watcher.watch("/data", recursive=True)
        cluster.wait_for_leader().kill()

        for i in range(5):  # work continues on the surviving majority
            _until_written(holder, f"/data/{i}", str(i), lock)
        seen = [events.get(timeout=DEADLINE) for _ in range(5)]
        assert [e.key for e in seen if e] == [f"/data/{i}" for i in range(5)]
        assert holder.session.session_id == session_id
        assert lock.is_held and lock.token == token and not lock.lost.is_set()

        second = waiter.lock("jobs")  # still exclusive, and handed over once released
        assert second.acquire(timeout=1) is False
        got = threading.Event()
        t = threading.Thread(target=lambda: second.acquire(timeout=DEADLINE) and got.set())
        t.start()
        lock.release()
        assert got.wait(DEADLINE)
        t.join()
        assert (second.token or 0) > (token or 0)
        second.release()
        events.cancel()
    finally:
        for c in (holder, waiter, watcher):
            c.close()


def test_default_lock_never_has_two_holders_through_a_failover(
    cluster: EtcdCluster | ZooKeeperEnsemble,
) -> None:
    holder, waiter = _connect(cluster), _connect(cluster)
    try:
        lock = holder.lock("jobs")  # Curator's default: SUSPENDED ends ownership at once
        assert lock.acquire()
        cluster.wait_for_leader().kill()
        second = waiter.lock("jobs")
        if second.acquire(timeout=DEADLINE / 3):
            # The waiter may take over only after the holder was told it lost the lock.
            assert lock.lost.is_set() and not lock.is_held
            with pytest.raises(coordkit.OwnershipError):
                holder.put("/data/x", "stale", fence=lock)
            second.release()
        else:
            assert lock.is_held and not lock.lost.is_set()
            lock.release()
    finally:
        holder.close()
        waiter.close()


def test_election_fails_over_when_a_member_and_the_leader_process_go(
    cluster: EtcdCluster | ZooKeeperEnsemble,
) -> None:
    first, second = _connect(cluster), _connect(cluster)
    try:
        ea, eb = first.election("settle"), second.election("settle")
        assert ea.campaign("a")
        elected = threading.Event()
        t = threading.Thread(target=lambda: eb.campaign("b", timeout=DEADLINE) and elected.set())
        t.start()
        cluster.members[0].kill()  # whichever role it had
        first.close()  # the leader's process goes away: its session ends at once
        assert elected.wait(DEADLINE)
        t.join()
        leader = eb.leader()
        assert leader is not None and leader.proposal == "b"
        eb.resign()
    finally:
        first.close()
        second.close()
