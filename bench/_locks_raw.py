"""Bare client calls for bench/locks.py: R, W, the protocol floors, and the native locks.

The floors are what the optimal protocol costs with the raw client library and nothing else:
etcd (python-etcd3): the one acquire transaction of etcd's ``concurrency.Mutex`` on a lease
kept across iterations, then a delete; ZooKeeper (kazoo): ephemeral-sequential create and
children read pipelined, then a delete. The handoff floor: a holder deletes its key, a waiter
on another connection learns it from a watch on that key and reads the queue once.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["BareHandoff", "EtcdRaw", "ZkRaw"]

now = time.perf_counter


class EtcdRaw:
    """python-etcd3 calls: R, W, the floor of etcd's Mutex, and python-etcd3's own Lock."""

    native = "python-etcd3 Lock"

    def __init__(self, endpoint: str, prefix: str) -> None:
        from coordkit.backends.etcd.compat import import_etcd3

        etcd3 = import_etcd3()
        rpc = etcd3.etcdrpc
        host, _, port = endpoint.rpartition(":")
        self._etcd3, self.host, self.port = etcd3, host, int(port)
        self.client = etcd3.client(host=host, port=int(port))
        self.prefix = prefix
        self.lease = self.client.lease(600)  # the session's lease, kept across iterations
        queue = f"{prefix}/floor/".encode()
        self.key = queue + f"{self.lease.id:x}".encode()
        first = rpc.RangeRequest(
            key=queue,
            range_end=queue[:-1] + b"0",
            limit=1,
            sort_order=rpc.RangeRequest.ASCEND,
            sort_target=rpc.RangeRequest.CREATE,
        )
        # etcd's concurrency.Mutex: if the key is absent put it with the lease; read the owner.
        self.txn = rpc.TxnRequest(
            compare=[
                rpc.Compare(
                    key=self.key, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0
                )
            ],
            success=[
                rpc.RequestOp(request_put=rpc.PutRequest(key=self.key, lease=self.lease.id)),
                rpc.RequestOp(request_range=first),
            ],
            failure=[
                rpc.RequestOp(request_range=rpc.RangeRequest(key=self.key)),
                rpc.RequestOp(request_range=first),
            ],
        )
        self.native_lock = self.client.lock(f"{prefix.strip('/')}-native")
        self.client.put(f"{prefix}/plain", b"v")

    def read(self) -> None:
        self.client.get(f"{self.prefix}/missing")

    def write(self) -> None:
        self.client.put(f"{self.prefix}/plain", b"v")

    def floor(self) -> None:
        c = self.client
        reply = c.kvstub.Txn(self.txn, c.timeout, credentials=c.call_credentials, metadata=c.metadata)
        assert reply.succeeded and reply.responses[1].response_range.kvs[0].key == self.key
        c.delete(self.key)

    def native_cycle(self) -> None:
        assert self.native_lock.acquire(timeout=5)
        self.native_lock.release()

    def handoffs(self, rounds: int, hold: float) -> list[float]:
        """``rounds`` handoffs of :meth:`handoff_floor`."""
        with self.handoff_floor() as floor:
            return [floor.one(hold) for _ in range(rounds)]

    @contextlib.contextmanager
    def handoff_floor(self) -> Iterator[BareHandoff]:
        """The handoff floor: a holder deletes its key after ``hold`` s; a waiter, on another
        connection, learns it from a watch on that key and reads the queue once."""
        rpc = self._etcd3.etcdrpc
        waiter = self._etcd3.client(host=self.host, port=self.port)
        key, queue = f"{self.prefix}/handoff/{self.lease.id:x}".encode(), f"{self.prefix}/handoff/"
        gone, created, over = threading.Event(), threading.Event(), threading.Event()

        def requests() -> Any:  # python-etcd3's Watcher re-opens its stream forever: use the stub
            yield rpc.WatchRequest(create_request=rpc.WatchCreateRequest(key=key))
            over.wait()

        stream = rpc.WatchStub(waiter.channel).Watch(requests())

        def follow() -> None:
            with contextlib.suppress(Exception):  # ends when cancelled
                for response in stream:
                    if response.created:
                        created.set()
                    if any(event.type == 1 for event in response.events):  # mvccpb DELETE
                        gone.set()

        threading.Thread(target=follow, daemon=True).start()
        try:
            if not created.wait(10):
                raise RuntimeError("the bare handoff's watch was not created within 10 s")
            with BareHandoff(
                lambda: self.client.put(key, b"", lease=self.lease),
                lambda: self.client.delete(key),
                gone,
                lambda: waiter.get_prefix(queue, sort_order="ascend", sort_target="create"),
            ) as floor:
                yield floor
        finally:
            over.set()
            stream.cancel()
            waiter.close()

    def close(self) -> None:
        self.client.delete_prefix(self.prefix)
        self.lease.revoke()
        self.client.close()


class ZkRaw:
    """kazoo calls: R, W, the pipelined floor of Curator's layout, and kazoo's own Lock."""

    native = "kazoo Lock"

    def __init__(self, endpoint: str, prefix: str) -> None:
        from kazoo.client import KazooClient
        from kazoo.recipe.lock import Lock

        self.endpoint = endpoint
        self.client = KazooClient(hosts=endpoint)
        self.client.start(timeout=10)
        self.prefix = prefix
        self.queue = f"{prefix}/floor"
        self.client.ensure_path(self.queue)
        self.client.create(f"{prefix}/plain", b"v")
        self.node = f"{self.queue}/_c_{uuid.uuid4()}-lock-"
        self.native_lock = Lock(self.client, f"{prefix}/native")

    def read(self) -> None:
        self.client.exists(f"{self.prefix}/missing")

    def write(self) -> None:
        self.client.set(f"{self.prefix}/plain", b"v")

    def floor(self) -> None:
        # ZooKeeper runs one session's requests in order: the listing sees the new node.
        created = self.client.create_async(self.node, b"", ephemeral=True, sequence=True)
        listed = self.client.get_children_async(self.queue)
        node = created.get()
        assert node.rsplit("/", 1)[1] in listed.get()
        self.client.delete(node)

    def native_cycle(self) -> None:
        assert self.native_lock.acquire(timeout=5)
        self.native_lock.release()

    def handoffs(self, rounds: int, hold: float) -> list[float]:
        """``rounds`` handoffs of :meth:`handoff_floor`."""
        with self.handoff_floor() as floor:
            return [floor.one(hold) for _ in range(rounds)]

    @contextlib.contextmanager
    def handoff_floor(self) -> Iterator[BareHandoff]:
        """The handoff floor: a holder deletes its node after ``hold`` s; a waiter, on another
        session, learns it from an ``exists`` watch and reads the children once."""
        from kazoo.client import KazooClient
        from kazoo.protocol.states import EventType

        waiter = KazooClient(hosts=self.endpoint)
        waiter.start(timeout=10)
        node, gone = f"{self.queue}/_c_handoff-lock-0000000000", threading.Event()

        def departed(event: Any) -> None:
            if event.type == EventType.DELETED:
                gone.set()

        def create() -> None:
            self.client.create(node, b"", ephemeral=True)
            waiter.exists(node, watch=departed)

        try:
            with BareHandoff(
                create, lambda: self.client.delete(node), gone, lambda: waiter.get_children(self.queue)
            ) as floor:
                yield floor
        finally:
            waiter.stop()
            waiter.close()

    def close(self) -> None:
        self.client.delete(self.prefix, recursive=True)
        self.client.stop()
        self.client.close()


class BareHandoff:
    """One handoff per :meth:`one`: ``take()``, then ``drop()`` timed to a waiting thread,
    woken by ``gone``, having done ``read()``. The waiting thread lives across handoffs, so
    that rounds can be interleaved one by one with the handoffs they are compared with."""

    def __init__(
        self, take: Callable[[], Any], drop: Callable[[], Any], gone: threading.Event, read: Callable[[], Any]
    ) -> None:
        self._take, self._drop, self._gone, self._read = take, drop, gone, read
        self._finished = threading.Event()
        self._done = 0.0
        self._over = False
        self.drops: list[float] = []  # seconds each drop() call took
        self.reads: list[float] = []  # and each read() call
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        while True:
            self._gone.wait()
            if self._over:
                return
            self._gone.clear()
            woken = now()
            self._read()
            self._done = now()
            self.reads.append(self._done - woken)
            self._finished.set()

    def one(self, hold: float) -> float:
        """Seconds from ``drop()`` call start to the waiter's read done; the same rhythm as
        the contenders': idle ``hold / 2`` before the take and before the drop."""
        time.sleep(hold / 2)
        self._take()
        time.sleep(hold / 2)
        self._finished.clear()
        started = now()
        self._drop()
        self.drops.append(now() - started)
        if not self._finished.wait(10):
            raise RuntimeError("the bare handoff's waiter was not woken within 10 s")
        return self._done - started

    def __enter__(self) -> BareHandoff:
        return self

    def __exit__(self, *exc: object) -> None:
        self._over = True
        self._gone.set()
        self._thread.join(10)
