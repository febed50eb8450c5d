"""The ZooKeeper backend's contender queues: Curator's node layout, one-round-trip joins,
retried joins that adopt their first node, order across kazoo and Curator nodes, the
single-node watch of waiters, and fenced writes on these nodes. Real ZooKeeper only; a raw
kazoo client plays the other tools and reads what coordkit wrote."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.paths import _prefix_root

import coordkit
from coordkit.backends.zookeeper import queue as _zk_queue
from coordkit.backends.zookeeper.queue import QueueJoin
from coordkit.errors import OwnershipError, VersionConflictError
from coordkit.names import PARENT_MARK

DEADLINE = 15.0
# Curator's protected sequential name: "_c_" + java.util.UUID + "-" + "lock-" + 10 digits
CURATOR_NODE = re.compile(r"^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-lock-\d{10}$")


@pytest.fixture
def namespace() -> str:
    return "ck-" + uuid.uuid4().hex[:12]


@pytest.fixture
def client(zookeeper_server: Any, namespace: str) -> Iterator[coordkit.Client]:
    with coordkit.connect(f"{zookeeper_server.url}/{namespace}", ttl=4) as made:
        yield made


@pytest.fixture
def kz(zookeeper_server: Any, namespace: str, client: coordkit.Client) -> Iterator[KazooClient]:
    """A raw kazoo client in the same namespace (made after ``client``, which creates it)."""
    raw = KazooClient(hosts=",".join(zookeeper_server.endpoints) + "/" + namespace)
    raw.start(timeout=DEADLINE)
    yield raw
    raw.stop()
    raw.close()


def deadline() -> float:
    return time.monotonic() + DEADLINE


class Traced:
    """A kazoo client that records, in order, each request sent and each answer awaited."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self.trace: list[str] = []
        self.sent: list[tuple[str, Any, bool]] = []  # (call, path, with a watch)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not name.endswith("_async"):
            return attr
        call = name[: -len("_async")]

        def send(*args: Any, **kwargs: Any) -> Any:
            self.trace.append(f"send {call}")
            self.sent.append((call, args[0] if args else kwargs.get("path"), kwargs.get("watch") is not None))
            return _Answer(attr(*args, **kwargs), call, self.trace)

        return send


class _Answer:
    def __init__(self, result: Any, call: str, trace: list[str]) -> None:
        self._result, self._call, self._trace = result, call, trace

    def get(self, timeout: float | None = None) -> Any:
        self._trace.append(f"wait {self._call}")
        return self._result.get(timeout=timeout)


def test_lock_and_election_nodes_are_curators(client: coordkit.Client, kz: KazooClient) -> None:
    lock = client.lock("res", identity="worker-7")
    assert lock.acquire()
    [name] = kz.get_children("/res")
    assert CURATOR_NODE.match(name), name
    data, stat = kz.get(f"/res/{name}")
    assert data == b"worker-7"
    assert stat.ephemeralOwner == client.backend.session_id
    assert lock.key == f"res/{name}"  # relative to the root, as on every backend
    assert lock.token == stat.czxid, "the fencing token is the node's czxid"
    lock.release()
    assert kz.get_children("/res") == []

    election = client.election("leader")
    assert election.campaign("proposal-a")
    [name] = kz.get_children("/leader")
    assert CURATOR_NODE.match(name) and kz.get(f"/leader/{name}")[0] == b"proposal-a"
    election.proclaim("proposal-b")
    assert kz.get(f"/leader/{name}")[0] == b"proposal-b"
    leader = election.leader()
    assert leader is not None and (leader.proposal, leader.key) == ("proposal-b", f"leader/{name}")
    election.resign()


def test_join_sends_create_and_list_before_awaiting_either(kz: KazooClient) -> None:
    kz.ensure_path("/q")
    traced = Traced(kz)
    view = QueueJoin("/q", b"me").attempt(traced, deadline())  # type: ignore[arg-type]
    # One round trip: both requests are on the wire before the first answer is awaited,
    # and nothing else is sent.
    assert traced.trace == ["send create", "send get_children", "wait create", "wait get_children"]
    assert [c.key for c in view.contenders] == [view.mine.key], "the list includes the new node"
    assert view.position == 0 and view.mine.value == b"me"
    assert view.mine.create_revision == kz.exists(view.mine.key).czxid

    traced.trace.clear()
    view = QueueJoin("/q", b"second").attempt(traced, deadline())  # type: ignore[arg-type]
    assert traced.trace == ["send create", "send get_children", "wait create", "wait get_children"]
    assert view.position == 1 and view.mine.sequence == view.contenders[0].sequence + 1


def test_join_creates_missing_parents_then_tries_once_more(kz: KazooClient) -> None:
    traced = Traced(kz)
    view = QueueJoin("/deep/er/q", b"x").attempt(traced, deadline())  # type: ignore[arg-type]
    # The missing parents are created in one round trip, all sent before any answer is awaited.
    assert traced.trace == [
        "send create",
        "send get_children",
        "wait create",
        "send create",
        "send create",
        "send create",
        "wait create",
        "wait create",
        "wait create",
        "send create",
        "send get_children",
        "wait create",
        "wait get_children",
    ]
    assert kz.get_children("/deep/er/q") == [view.mine.key.rsplit("/", 1)[1]]
    assert kz.exists("/deep/er").ephemeralOwner == 0, "parents are persistent"
    # ... and are implicit parents, not keys (kazoo's ensure_path would leave empty nodes)
    assert [kz.get(p)[0] for p in ("/deep", "/deep/er", "/deep/er/q")] == [PARENT_MARK] * 3


def test_join_leaves_an_existing_parent_as_it_is(kz: KazooClient) -> None:
    kz.create("/made/by/another", b"a key of another tool", makepath=True)
    QueueJoin("/made/by/another/q", b"x").attempt(kz, deadline())
    assert kz.get("/made/by/another")[0] == b"a key of another tool"
    assert kz.get("/made")[0] == b"" and kz.get("/made/by/another/q")[0] == PARENT_MARK


def test_backend_join_is_a_single_attempt(client: coordkit.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []
    original = QueueJoin.attempt

    def counting(self: QueueJoin, zk: KazooClient, until: float) -> Any:
        attempts.append(self.parent)
        return original(self, zk, until)

    monkeypatch.setattr(_zk_queue.QueueJoin, "attempt", counting)
    view = client.backend.queue_join("one", b"v")
    assert attempts == ["/one"] and view.position == 0


def test_a_retried_join_adopts_the_node_of_the_first_attempt(kz: KazooClient) -> None:
    join = QueueJoin("/retry", b"id-1")
    first = join.attempt(kz, deadline())
    # A second attempt of the same join stands for a retry after the answer to the create
    # was lost with the connection: it must find the node, not queue a second contender.
    traced = Traced(kz)
    again = join.attempt(traced, deadline())  # type: ignore[arg-type]
    assert again.mine == first.mine
    assert traced.trace == ["send get_children", "wait get_children", "send get", "wait get"]
    assert kz.get_children("/retry") == [first.mine.key.rsplit("/", 1)[1]]

    # The same uuid in another join object (the retry made anew) finds it too.
    retried = QueueJoin("/retry", b"id-1", protection=join.protection)
    retried.sent = True
    assert retried.attempt(kz, deadline()).mine == first.mine

    # A retry whose first create never reached the server creates the node then.
    lost = QueueJoin("/retry", b"id-2")
    lost.sent = True
    view = lost.attempt(kz, deadline())
    assert [c.key for c in view.contenders] == [first.mine.key, view.mine.key]


def test_backend_retries_a_join_whose_answer_was_lost(
    client: coordkit.Client, kz: KazooClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create reaches the server but its answer is lost with the connection: the backend
    tries again on the same join, which adopts the node instead of queueing a second one."""
    original = QueueJoin.answered
    calls: list[str] = []

    def answer_lost(self: QueueJoin, created: Any, listed: Any) -> Any:
        calls.append(self.protection)
        view = original(self, created, listed)  # the create and the list were applied...
        if len(calls) == 1:
            raise ConnectionLoss()  # ...but their answers are lost with the connection
        return view

    kz.ensure_path("/lossy")
    monkeypatch.setattr(_zk_queue.QueueJoin, "answered", answer_lost)
    view = client.backend.queue_join("lossy", b"me")
    assert len(calls) == 1, "the retry must look for the node, not create another"
    assert [c.key for c in view.contenders] == [view.mine.key]
    assert kz.get_children("/lossy") == [view.mine.key.rsplit("/", 1)[1]]
    assert view.mine.create_revision == kz.exists(view.mine.key).czxid and view.mine.value == b"me"


def test_order_by_sequence_across_kazoo_curator_and_coordkit(
    client: coordkit.Client, kz: KazooClient
) -> None:
    kz.ensure_path("/mixed")
    made = [
        kz.create(f"/mixed/{uuid.uuid4().hex}__lock__", b"kazoo-0", ephemeral=True, sequence=True),
        kz.create(f"/mixed/_c_{uuid.uuid4()}-lock-", b"curator-1", ephemeral=True, sequence=True),
        kz.create("/mixed/lease-", b"not a contender", ephemeral=True, sequence=True),
        kz.create(f"/mixed/{uuid.uuid4().hex}__rlock__", b"kazoo read lock", ephemeral=True, sequence=True),
        kz.create(f"/mixed/{uuid.uuid4().hex}__lock__", b"kazoo-4", ephemeral=True, sequence=True),
    ]
    kz.create("/mixed/config", b"plain child")
    view = client.backend.queue_join("mixed", b"coordkit-5")
    assert ["/" + c.key for c in view.contenders] == [made[0], made[1], made[4], "/" + view.mine.key]
    assert [c.sequence for c in view.contenders] == [0, 1, 4, 6]  # "config" took number 5
    assert view.position == 3

    listed, revision = client.backend.queue_list("mixed", values=True)
    assert [c.value for c in listed] == [b"kazoo-0", b"curator-1", b"kazoo-4", b"coordkit-5"]
    assert [c.create_revision for c in listed] == [kz.exists("/" + c.key).czxid for c in listed]
    assert revision >= max(c.create_revision for c in listed)
    keys_only, _ = client.backend.queue_list("mixed")
    assert [c.key for c in keys_only] == [c.key for c in listed]
    assert client.backend.queue_list("nothing-here")[0] == []


def test_update_and_leave(client: coordkit.Client, kz: KazooClient) -> None:
    backend = client.backend
    mine = backend.queue_join("upd", b"v1").mine
    updated = backend.queue_update(mine, b"v2")
    assert (updated.version, updated.value, kz.get(mine.key)[0]) == (2, b"v2", b"v2")
    with pytest.raises(VersionConflictError):
        backend.queue_update(mine, b"stale")  # still at version 1 in ``mine``
    backend.queue_leave(updated)
    assert kz.exists(mine.key) is None
    backend.queue_leave(updated)  # gone already: fine
    with pytest.raises(VersionConflictError):
        backend.queue_update(updated, b"v3")


def _in_thread(fn: Callable[[], bool]) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    return thread, result


def test_wait_gone_returns_on_deletion_not_on_a_change(client: coordkit.Client, kz: KazooClient) -> None:
    backend = client.backend
    ahead = backend.queue_join("w", b"leader").mine
    wake = threading.Event()
    thread, result = _in_thread(lambda: backend.wait_gone(ahead.key, DEADLINE, wake))
    backend.queue_update(ahead, b"proclaimed")  # a change of value is no departure
    kz.delete(ahead.key)
    thread.join(DEADLINE)
    assert result == [True] and wake.is_set()
    assert backend.wait_gone(ahead.key, DEADLINE, threading.Event()) is True  # absent already


def test_a_waiter_watches_its_predecessor_alone(client: coordkit.Client, kz: KazooClient) -> None:
    backend = client.backend
    queue = [backend.queue_join("herd", b"").mine for _ in range(3)]
    traced = Traced(kz)
    gone = _zk_queue.wait_gone(traced, queue[1].key, deadline(), 0.05, threading.Event())  # type: ignore[arg-type]
    assert gone is False
    # One request, leaving one watch on the one node ahead: a release wakes one waiter.
    assert traced.sent == [("get", queue[1].key, True)]
    assert traced.trace == ["send get", "wait get"]


def test_a_waiter_finding_its_window_gone_leaves_no_watch(client: coordkit.Client, kz: KazooClient) -> None:
    """An ``exists`` of a node already gone would leave a watch for its creation, which a
    sequential node never fires: one more per window move, for the life of the connection."""
    backend = client.backend
    window = [backend.queue_join("window", b"", unique=True).mine for _ in range(3)]
    kz.delete(window[1].key)
    nodes = [(c.key, c.key, 0) for c in window]
    gone = _zk_queue.wait_any_gone(kz, nodes, deadline(), DEADLINE, threading.Event())
    assert gone == {window[1].key}

    def watchers(key: str) -> Any:  # kazoo keeps them by the path with its chroot
        return kz._data_watchers.get(_prefix_root(kz.chroot, key))

    assert not watchers(window[1].key), "a watch was left on a node gone"
    assert watchers(window[0].key) and watchers(window[2].key), "the nodes still there are watched"


def test_wait_gone_gives_up_on_timeout_or_wake(client: coordkit.Client) -> None:
    backend = client.backend
    ahead = backend.queue_join("w2", b"").mine
    started = time.monotonic()
    assert backend.wait_gone(ahead.key, 0.2, threading.Event()) is False
    assert time.monotonic() - started >= 0.2
    wake = threading.Event()
    thread, result = _in_thread(lambda: backend.wait_gone(ahead.key, DEADLINE, wake))
    wake.set()
    thread.join(DEADLINE)
    assert result == [False]


def test_fenced_write_with_a_curator_node(client: coordkit.Client, kz: KazooClient) -> None:
    lock = client.lock("fence", identity="w")
    assert lock.acquire()
    client.put("/orders/1", "paid", fence=lock)
    assert kz.get("/orders/1")[0] == b"paid"
    assert lock.key is not None
    kz.delete(lock.key)  # the node is gone (as after an expiry) while the handle thinks it holds
    with pytest.raises(OwnershipError, match="no longer held"):
        client.put("/orders/1", "stale", fence=lock)
    assert kz.get("/orders/1")[0] == b"paid"
    assert not lock.is_held and lock.lost.is_set()  # the refusal proved the holding over
    with pytest.raises(OwnershipError, match="lost before release"):
        lock.release()  # as after any loss: work done since may have overlapped another holder
