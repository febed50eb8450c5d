"""An async contender's join on ZooKeeper (zookeeper/aio.py): its first try is sent from the
loop (the create and the children read pipelined, answered on the loop by kazoo's reader
thread), and whatever that try cannot finish is finished by the sync join on the call pool,
which must find the node the try made rather than queue a second one.

Against a real server. What is counted is which join ran (the sync one is the backend's
``queue_join``); what is checked is the contender nodes the server holds for the session.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss
from kazoo.protocol.serialization import Create2

import coordkit.aio
from coordkit.backends.zookeeper.aio import ZooKeeperAsyncOps, _Outcome

pytestmark = pytest.mark.zookeeper


@pytest.fixture
def namespace() -> str:
    return "zkj-" + uuid.uuid4().hex[:10]


@pytest.fixture
def raw(zookeeper_server: Any) -> Iterator[KazooClient]:
    """A plain kazoo client on the same server, to look at the nodes the joins made."""
    client = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    client.start(timeout=15.0)
    yield client
    client.stop()
    client.close()


def _nodes(raw: KazooClient, lock: str, session: int) -> list[tuple[str, int]]:
    """(name, czxid) of each node under the lock ``lock`` (a path below the namespace) owned
    by ``session``."""
    raw.sync(lock)  # the server raw is on has what the joins' server applied
    found = []
    for child in raw.get_children(lock):
        _, stat = raw.get(f"{lock}/{child}")
        if stat.ephemeralOwner == session:
            found.append((child, stat.czxid))
    return found


def test_a_first_join_is_sent_from_the_loop(
    zookeeper_server: Any,
    namespace: str,
    raw: KazooClient,
    arun: Callable[..., Any],
    sync_joins: Callable[[Any], list[str]],
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(f"{zookeeper_server.url}/{namespace}", ttl=4) as aio:
            lock = aio.lock("j")
            assert await lock.acquire(timeout=10)  # the lock's node is made here
            await lock.release()
            joins = sync_joins(aio)
            assert await lock.acquire(timeout=10)
            assert joins == []  # not one join on the call pool
            ((node, czxid),) = _nodes(raw, f"/{namespace}/j", aio.sync.session.session_id)
            assert lock.key == f"j/{node}" and lock.token == czxid
            await lock.release()
            assert _nodes(raw, f"/{namespace}/j", aio.sync.session.session_id) == []

    arun(main())


def test_a_join_whose_queue_node_is_missing_is_finished_by_the_sync_join(
    zookeeper_server: Any,
    namespace: str,
    raw: KazooClient,
    arun: Callable[..., Any],
    sync_joins: Callable[[Any], list[str]],
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(f"{zookeeper_server.url}/{namespace}", ttl=4) as aio:
            joins = sync_joins(aio)
            lock = aio.lock("fresh")
            assert await lock.acquire(timeout=10)  # the loop's try met NoNodeError: no node made
            assert joins == ["fresh"]
            session = aio.sync.session.session_id
            ((node, czxid),) = _nodes(raw, f"/{namespace}/fresh", session)  # one node, not two
            assert lock.key == f"fresh/{node}" and lock.token == czxid
            await lock.release()

    arun(main())


def test_a_create_whose_reply_is_lost_is_adopted_not_made_twice(
    zookeeper_server: Any,
    namespace: str,
    raw: KazooClient,
    arun: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    sync_joins: Callable[[Any], list[str]],
) -> None:
    """The create reaches the server and is applied, but its reply is lost (as on a dropped
    link): the sync join must find that node by its protection id and hold the lock with it."""
    original = ZooKeeperAsyncOps._sent
    lost: list[str] = []

    def losing(self: ZooKeeperAsyncOps, client: KazooClient, request: Any) -> Any:
        sent = original(self, client, request)
        if not isinstance(request, Create2):
            return sent
        lost.append(request.path)
        cut = self.loop.create_future()
        sent.add_done_callback(lambda _: cut.set_result(_Outcome(None, ConnectionLoss())))
        return cut

    async def main() -> None:
        async with coordkit.aio.connect(f"{zookeeper_server.url}/{namespace}", ttl=4) as aio:
            lock = aio.lock("cut")
            assert await lock.acquire(timeout=10)
            await lock.release()
            monkeypatch.setattr(ZooKeeperAsyncOps, "_sent", losing)
            joins = sync_joins(aio)
            assert await lock.acquire(timeout=10)
            assert len(lost) == 1 and joins == ["cut"]  # the loop's try was sent, then finished
            session = aio.sync.session.session_id
            ((node, czxid),) = _nodes(raw, f"/{namespace}/cut", session)  # adopted: one node
            assert lost[0].endswith("-lock-") and node.startswith(lost[0].rsplit("/", 1)[-1])
            assert lock.key == f"cut/{node}" and lock.token == czxid
            await lock.release()
            assert _nodes(raw, f"/{namespace}/cut", aio.sync.session.session_id) == []

    arun(main())


def test_a_first_try_cut_late_leaves_the_sync_join_only_the_time_left(
    zookeeper_server: Any, namespace: str, arun: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One join is bounded by one operation timeout: a try whose create is cut after a while
    hands the sync join what is left of that timeout, not a fresh one."""
    original = ZooKeeperAsyncOps._sent

    def cut_late(self: ZooKeeperAsyncOps, client: KazooClient, request: Any) -> Any:
        sent = original(self, client, request)
        if not isinstance(request, Create2):
            return sent
        cut = self.loop.create_future()
        lost = _Outcome(None, ConnectionLoss())
        sent.add_done_callback(lambda _: self.loop.call_later(0.5, cut.set_result, lost))
        return cut

    async def main() -> None:
        async with coordkit.aio.connect(f"{zookeeper_server.url}/{namespace}", ttl=4, timeout=2.0) as aio:
            lock = aio.lock("late")
            assert await lock.acquire(timeout=10)
            await lock.release()
            backend, given = aio._ops.backend, []
            sync_join = backend.queue_join

            def recording(path: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
                given.append(timeout)
                return sync_join(path, *args, timeout=timeout, **kwargs)

            backend.queue_join = recording
            monkeypatch.setattr(ZooKeeperAsyncOps, "_sent", cut_late)
            assert await lock.acquire(timeout=10)  # the sync join adopted the node
            assert len(given) == 1 and given[0] is not None and 0 < given[0] <= 1.5, given
            await lock.release()

    arun(main())
