"""ZooKeeper-specific behaviour of ZooKeeperBackend, against real ZooKeeper processes.

What the conformance suite cannot see: the namespace as a chroot, how versions and revisions
map onto znode stats (checked with a raw kazoo client), the negotiated session timeout,
transactions and their conflicts, ephemeral nodes going at once on close, watches under
bursts, restarts, outages of one member and session replacement, and bounded close and
operations against a paused server. Every wait has a deadline; no test sleeps hoping.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient

from coordkit.backends.base import Check, ConnectionEvent, Delete, EventType, Put, WatchEvent
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.errors import (
    BackendUnavailableError,
    KeyExistsError,
    OperationTimeoutError,
    SessionLostError,
    VersionConflictError,
)
from coordkit.names import PARENT_MARK
from coordkit.testing import eventually
from coordkit.testing.servers import ServerError, ZooKeeperEnsemble, ZooKeeperServer, free_ports

DEADLINE = 15.0

try:
    ZooKeeperServer()
    _MISSING = ""
except ServerError as exc:
    _MISSING = str(exc)
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"no local ZooKeeper: {_MISSING}")


# --- helpers ---------------------------------------------------------------------------------


class Opened:
    """A connected backend with its connection events in a queue."""

    def __init__(self, backend: ZooKeeperBackend) -> None:
        self.backend = backend
        self.events: queue.SimpleQueue[ConnectionEvent] = queue.SimpleQueue()

    def wait_for(self, *wanted: ConnectionEvent) -> ConnectionEvent:
        deadline = time.monotonic() + DEADLINE
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"none of {wanted} within {DEADLINE}s"
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event in wanted:
                return event

    def back_after_outage(self) -> bool:
        """Wait until the link is back; True if the session survived. A slow restart on a
        loaded machine can outlast the TTL: then do what the session manager would."""
        if self.wait_for(ConnectionEvent.RECONNECTED, ConnectionEvent.EXPIRED) is ConnectionEvent.RECONNECTED:
            return True
        self.backend.new_session(DEADLINE)
        return False


Opener = Callable[..., Opened]


@pytest.fixture
def opener() -> Iterator[Opener]:
    """``open(endpoints, namespace, ttl=4, **options)``; everything opened is closed afterwards."""
    opened: list[ZooKeeperBackend] = []

    def open_(endpoints: list[str], namespace: str = "", *, ttl: float = 4.0, **options: Any) -> Opened:
        backend = ZooKeeperBackend(endpoints, namespace, options=options)
        handle = Opened(backend)
        backend.connect(handle.events.put, ttl=ttl, timeout=DEADLINE)
        opened.append(backend)
        return handle

    yield open_
    for backend in opened:
        backend.close()


@pytest.fixture
def ns() -> str:
    return "/zkb-" + uuid.uuid4().hex[:10]


@pytest.fixture
def own_server() -> Iterator[ZooKeeperServer]:
    """A server of this test's own, to kill, pause and restart."""
    with ZooKeeperServer() as server:
        yield server


def wait_until_stopped(server: ZooKeeperServer) -> None:
    """SIGSTOP takes effect on each thread of the JVM a little after pause() returns; a request
    sent in between may still be answered. Wait until /proc shows every thread stopped."""
    tasks = f"/proc/{server.pid}/task"

    def every_thread_stopped() -> bool:
        states = set()
        for tid in os.listdir(tasks):
            with contextlib.suppress(OSError), open(f"{tasks}/{tid}/stat") as stat:
                states.add(stat.read().rpartition(")")[2].split()[0])
        assert states <= {"T", "t"}, f"{server} not stopped: thread states {states}"
        return True

    eventually(every_thread_stopped, timeout=DEADLINE, interval=0.01)


class Collector:
    """A watch callback that queues events; ``take(n)`` waits for n of them."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()

    def __call__(self, event: WatchEvent) -> None:
        self.queue.put(event)

    def take(self, count: int) -> list[WatchEvent]:
        deadline = time.monotonic() + DEADLINE
        got: list[WatchEvent] = []
        while len(got) < count:
            remaining = deadline - time.monotonic()
            try:
                got.append(self.queue.get(timeout=max(remaining, 0.001)))
            except queue.Empty:
                raise AssertionError(f"only {len(got)} of {count} events within {DEADLINE}s: {got}") from None
        return got

    def quiet(self, seconds: float = 0.3) -> bool:
        """True if nothing more arrives within ``seconds`` (a duplicate would)."""
        try:
            extra = self.queue.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected extra event {extra}")


# --- layout, versions, session ---------------------------------------------------------------


def test_namespace_is_created_and_used_as_chroot(
    zookeeper_server: Any, opener: Opener, raw: KazooClient, ns: str
) -> None:
    b = opener(zookeeper_server.endpoints, ns + "/nested/deeper").backend
    entry = b.put(Put("/k", b"v"))
    assert entry.key == "/k"
    data, _ = raw.get(f"{ns}/nested/deeper/k")
    assert data == b"v"
    assert b.children("/") == ["k"]
    assert [e.key for e in b.tree("/")[0]] == ["/k"]
    # a second backend on the same namespace finds the chroot already there
    again = opener(zookeeper_server.endpoints, ns + "/nested/deeper").backend
    assert again.get("k") == b.get("/k")


def test_versions_and_revisions_are_the_znode_stat(
    zookeeper_server: Any, opener: Opener, raw: KazooClient, ns: str
) -> None:
    b = opener(zookeeper_server.endpoints, ns).backend
    first = b.put(Put("/v", b"1"))
    second = b.put(Put("/v", b"2"))
    _, stat = raw.get(f"{ns}/v")
    assert (second.version, second.create_revision, second.mod_revision, second.lease) == (
        stat.version + 1,
        stat.czxid,
        stat.mzxid,
        0,
    )
    assert first.create_revision == first.mod_revision == stat.czxid
    raw.set(f"{ns}/v", b"by someone else")  # znode version 2 -> coordkit version 3
    with pytest.raises(VersionConflictError):
        b.put(Put("/v", b"stale", version=second.version))
    assert b.put(Put("/v", b"3", version=3)).version == 4
    b.delete("/v")
    again = b.put(Put("/v", b"new"))
    assert again.version == 1 and again.create_revision > stat.mzxid
    eph = b.put(Put("/e", b"x", ephemeral=True))
    _, estat = raw.get(f"{ns}/e")
    assert eph.lease == estat.ephemeralOwner == b.session_id != 0


def test_session_ttl_is_what_the_server_granted(zookeeper_server: Any, opener: Opener) -> None:
    if not isinstance(zookeeper_server, ZooKeeperServer):
        pytest.skip("the external server's tickTime is unknown")
    low, high = zookeeper_server.session_timeout_range
    assert opener(zookeeper_server.endpoints, ttl=high * 10).backend.session_ttl == high
    assert opener(zookeeper_server.endpoints, ttl=low / 4).backend.session_ttl == low
    assert opener(zookeeper_server.endpoints, ttl=low + 1).backend.session_ttl == low + 1


def test_the_system_node_is_not_a_key(zookeeper_server: Any, opener: Opener) -> None:
    b = opener(zookeeper_server.endpoints).backend  # no namespace: the real root
    assert "zookeeper" not in b.children("/")
    assert not [e for e in b.tree("/")[0] if e.key == "/zookeeper" or e.key.startswith("/zookeeper/")]


def test_connecting_to_nothing_fails_fast_naming_the_endpoint() -> None:
    (port,) = free_ports(1)
    backend = ZooKeeperBackend([f"127.0.0.1:{port}"], "", options={})
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match=f"127.0.0.1:{port}"):
        backend.connect(lambda event: None, ttl=4, timeout=1.0)
    assert time.monotonic() - started < 1.0 + 2.5  # the timeout, then a bounded stop
    backend.close()


def test_server_info(zookeeper_server: Any, opener: Opener) -> None:
    info = opener(zookeeper_server.endpoints).backend.server_info(2.0)
    assert info.kind == "zookeeper" and info.version.startswith("3.")
    assert info.leader == zookeeper_server.endpoints[0]
    assert "standalone" in info.details[zookeeper_server.endpoints[0]]


# --- writes ----------------------------------------------------------------------------------


def test_parents_are_created_with_the_key_and_never_by_a_failed_commit(
    zookeeper_server: Any, opener: Opener, raw: KazooClient, ns: str
) -> None:
    b = opener(zookeeper_server.endpoints, ns).backend
    leaf = b.put(Put("/p/q/r", b"1"))
    for parent in ("/p", "/p/q"):
        data, stat = raw.get(ns + parent)
        # one transaction: the parents carry the key's zxid, and the mark of implicit parents
        assert data == PARENT_MARK and stat.czxid == leaf.create_revision and stat.ephemeralOwner == 0
    with pytest.raises(VersionConflictError):
        b.commit([Put("/x/y/z", b"1", create=True), Check("/p/q/r", version=7)])
    assert raw.exists(f"{ns}/x") is None
    made = b.commit([Put("/x/y/z", b"1", create=True), Put("/x/w", b"2")])
    assert [e.key for e in made if e] == ["/x/y/z", "/x/w"]
    assert made[0] == b.get("/x/y/z") and made[1] == b.get("/x/w")


def test_commit_conflicts_name_the_failing_key(zookeeper_server: Any, opener: Opener, ns: str) -> None:
    b = opener(zookeeper_server.endpoints, ns).backend
    a = b.put(Put("/a", b"1"))
    with pytest.raises(KeyExistsError, match="/a"):
        b.commit([Put("/b", b"1"), Put("/a", b"2", create=True)])
    with pytest.raises(VersionConflictError, match="/a"):
        b.commit([Check("/a", version=a.version + 1), Put("/b", b"1")])
    with pytest.raises(VersionConflictError, match="/gone"):
        b.commit([Delete("/gone", version=1)])
    with pytest.raises(VersionConflictError, match="/a"):
        b.commit([Put("/a", b"x", version=a.version + 3)])
    assert b.get("/b") is None and b.get("/a") == a
    # an unversioned delete of an absent key is a no-op inside a commit, as on etcd
    results = b.commit([Delete("/gone"), Put("/b", b"1"), Check("/a", create_revision=a.create_revision)])
    assert results[0] is None and results[2] is None and results[1] == b.get("/b")
    b.delete("/a")
    b.put(Put("/a", b"again"))
    with pytest.raises(VersionConflictError, match="/a"):
        b.commit([Check("/a", create_revision=a.create_revision), Put("/b", b"stale")])
    assert b.get("/b").value == b"1"  # type: ignore[union-attr]


def test_ephemeral_keys_belong_to_their_session_and_go_at_close(
    zookeeper_server: Any, opener: Opener, ns: str
) -> None:
    owner = opener(zookeeper_server.endpoints, ns, ttl=10).backend
    observer = opener(zookeeper_server.endpoints, ns).backend
    mine = owner.put(Put("/reg/me", b"1", ephemeral=True))
    assert mine.lease == owner.session_id
    with pytest.raises(KeyExistsError, match="session"):
        observer.put(Put("/reg/me", b"theirs", ephemeral=True))
    observer.put(Put("/plain", b"p"))
    with pytest.raises(KeyExistsError, match="persistent"):
        owner.put(Put("/plain", b"take", ephemeral=True))
    updated = owner.put(Put("/reg/me", b"2", ephemeral=True))
    assert (updated.version, updated.lease, updated.value) == (2, owner.session_id, b"2")
    assert owner.put(Put("/reg/me", b"3", ephemeral=True, version=2)).version == 3
    owner.close()
    # ttl=10: only the close itself can have removed it before this read
    assert observer.get("/reg/me") is None
    assert observer.get("/reg") is None  # its node is persistent, but an implicit parent is no key


def test_delete_recursive_and_not_empty(zookeeper_server: Any, opener: Opener, ns: str) -> None:
    b = opener(zookeeper_server.endpoints, ns).backend
    for key in ("/d/a/b", "/d/a/c", "/d/e", "/dx"):
        b.put(Put(key, b"v"))
    assert b.delete("/d") is False  # an implicit parent: no key to delete, and its keys stay
    assert b.get("/d/e") is not None
    with pytest.raises(VersionConflictError):
        b.delete("/d", recursive=True, version=5)
    assert b.delete("/d", recursive=True) is True
    assert b.tree("/d")[0] == [] and b.get("/dx") is not None
    assert b.delete("/d", recursive=True) is False


# --- watches ---------------------------------------------------------------------------------


def test_prefix_watch_gets_100_rapid_creates_once_each_in_order(
    zookeeper_server: Any, opener: Opener, ns: str
) -> None:
    watcher = opener(zookeeper_server.endpoints, ns).backend
    writer = opener(zookeeper_server.endpoints, ns).backend
    writer.put(Put("/jobs", b""))
    got = Collector()
    watch = watcher.watch("/jobs", got, prefix=True)

    def write(worker: int) -> None:
        for i in range(25):
            writer.put(Put(f"/jobs/{worker}-{i:02d}", b"x", create=True))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    events = got.take(100)
    got.quiet()
    watch.cancel()
    assert {e.key for e in events} == {f"/jobs/{w}-{i:02d}" for w in range(4) for i in range(25)}
    assert all(e.type is EventType.PUT for e in events)
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions)), "events out of store order or repeated"
    # each worker's own writes, which happened one after another, arrive in that order
    for w in range(4):
        mine = [e.key for e in events if e.key.startswith(f"/jobs/{w}-")]
        assert mine == sorted(mine)


def test_key_watch_sees_recreation_and_cancel_from_the_callback(
    zookeeper_server: Any, opener: Opener, ns: str
) -> None:
    b = opener(zookeeper_server.endpoints, ns).backend
    got = Collector()
    handle: list[Any] = []
    done = threading.Event()

    def callback(event: WatchEvent) -> None:
        got(event)
        if event.entry is not None and event.entry.value == b"stop":
            handle[0].cancel()  # must not deadlock on its own worker
            done.set()

    handle.append(b.watch("/k", callback, prefix=False))
    first = b.put(Put("/k", b"1"))
    assert got.take(1)[0].entry == first
    b.delete("/k")
    gone = got.take(1)[0]
    assert (gone.type, gone.key) == (EventType.DELETE, "/k") and gone.revision > first.mod_revision
    b.put(Put("/k", b"stop"))
    assert done.wait(DEADLINE)
    b.put(Put("/k", b"after cancel"))
    again = got.take(1)[0]
    assert again.entry is not None and again.entry.value == b"stop" and again.entry.version == 1
    assert got.quiet()


def test_watch_survives_a_server_restart(own_server: ZooKeeperServer, opener: Opener) -> None:
    watcher = opener(own_server.endpoints, "/r", ttl=10)
    got = Collector()
    watcher.backend.watch("/w", got, prefix=True)
    watcher.backend.put(Put("/w/before", b"1"))
    assert got.take(1)[0].key == "/w/before"
    session = watcher.backend.session_id
    own_server.kill()
    watcher.wait_for(ConnectionEvent.DISCONNECTED)
    own_server.start()
    if watcher.back_after_outage():
        assert watcher.backend.session_id == session
    writer = opener(own_server.endpoints, "/r")
    writer.backend.put(Put("/w/after", b"2"))
    writer.backend.delete("/w/before")
    events = got.take(2)
    assert {(e.type, e.key) for e in events} == {(EventType.PUT, "/w/after"), (EventType.DELETE, "/w/before")}
    assert got.quiet()
    watcher.backend.keepalive(5.0)


@pytest.mark.slow
def test_watch_catches_up_on_changes_made_while_its_server_was_down(opener: Opener) -> None:
    with ZooKeeperEnsemble(3) as ensemble:
        leader = ensemble.wait_for_leader()
        follower, other = [m for m in ensemble.members if m is not leader]
        watcher = opener(follower.endpoints, "/down", ttl=10)
        writer = opener(leader.endpoints + other.endpoints, "/down")
        got = Collector()
        watcher.backend.watch("/svc", got, prefix=True)
        writer.backend.put(Put("/svc/1", b"one"))
        assert got.take(1)[0].key == "/svc/1"
        follower.kill()
        watcher.wait_for(ConnectionEvent.DISCONNECTED)
        writer.backend.put(Put("/svc/2", b"two"))
        writer.backend.delete("/svc/1")
        writer.backend.put(Put("/svc/3", b"three"))
        follower.start()
        watcher.back_after_outage()
        events = got.take(3)
        assert {(e.type, e.key) for e in events} == {
            (EventType.DELETE, "/svc/1"),
            (EventType.PUT, "/svc/2"),
            (EventType.PUT, "/svc/3"),
        }
        puts = [e for e in events if e.type is EventType.PUT]
        assert [e.key for e in puts] == ["/svc/2", "/svc/3"]  # store order
        assert got.quiet()


def test_watch_resyncs_after_new_session(zookeeper_server: Any, opener: Opener, ns: str) -> None:
    me = opener(zookeeper_server.endpoints, ns, ttl=10).backend
    other = opener(zookeeper_server.endpoints, ns).backend
    got = Collector()
    me.watch("/s", got, prefix=True)
    me.put(Put("/s/mine", b"old session", ephemeral=True))
    assert got.take(1)[0].key == "/s/mine"
    old = me.session_id
    assert me.new_session(DEADLINE) != old
    gone = got.take(1)[0]  # deleted by the server as the old session closed
    assert (gone.type, gone.key) == (EventType.DELETE, "/s/mine")
    other.put(Put("/s/next", b"1"))  # the watches are armed on the new session
    assert got.take(1)[0].key == "/s/next"
    assert me.put(Put("/s/mine", b"new", ephemeral=True)).lease == me.session_id
    assert got.take(1)[0].entry.lease == me.session_id  # type: ignore[union-attr]
    assert got.quiet()


# --- faults ----------------------------------------------------------------------------------


def test_expiry_is_reported_and_ephemeral_writes_wait_for_a_new_session(
    own_server: ZooKeeperServer, opener: Opener
) -> None:
    opened = opener(own_server.endpoints, "/x", ttl=4)
    b = opened.backend
    b.put(Put("/eph", b"1", ephemeral=True))
    # Take the session over with its id and password and close it: the server ends it.
    sid, password = b._client.client_id  # type: ignore[union-attr]  # test-only peek
    thief = KazooClient(hosts=",".join(own_server.endpoints), client_id=(sid, password))
    thief.start(timeout=DEADLINE)
    thief.stop()
    thief.close()
    opened.wait_for(ConnectionEvent.EXPIRED)
    with pytest.raises(SessionLostError):
        b.keepalive(2.0)
    # Plain keys stay usable (kazoo is connected again, on a session of its own making);
    # ephemeral keys wait for a session of ours.
    assert b.get("/eph") is None
    b.put(Put("/plain", b"1"))
    with pytest.raises(SessionLostError):
        b.put(Put("/eph", b"2", ephemeral=True))
    assert b.new_session(DEADLINE) != sid
    b.keepalive(2.0)
    assert b.put(Put("/eph", b"2", ephemeral=True)).lease == b.session_id


def test_close_and_operations_are_bounded_when_the_server_is_paused(
    own_server: ZooKeeperServer, opener: Opener
) -> None:
    owner = opener(own_server.endpoints, "/pz", ttl=4, operation_timeout=1.0, close_timeout=1.0)
    observer = opener(own_server.endpoints, "/pz", ttl=10)
    owner.backend.put(Put("/eph", b"1", ephemeral=True))
    got = Collector()
    observer.backend.watch("/eph", got, prefix=False)
    own_server.pause()
    try:
        wait_until_stopped(own_server)
        started = time.monotonic()
        with pytest.raises(OperationTimeoutError, match=own_server.endpoints[0]):
            owner.backend.get("/eph")
        assert time.monotonic() - started < 1.0 + 0.5
        started = time.monotonic()
        owner.backend.close()
        assert time.monotonic() - started < 1.0 + 0.5
    finally:
        own_server.resume()
    # Gone either by the close request reaching the server or by expiry after the TTL.
    gone = got.take(1)[0]
    assert (gone.type, gone.key) == (EventType.DELETE, "/eph")
