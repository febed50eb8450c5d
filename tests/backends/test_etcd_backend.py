"""etcd-specific behaviour of EtcdBackend, against real etcd processes.

What the conformance suite cannot see: the key layout as etcdctl spells it, the lease TTL
the server grants, one round trip per write, failover between members, and watches that
survive restarts and compactions. Every wait has a deadline; no test sleeps hoping.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coordkit.backends.base import Check, ConnectionEvent, Delete, EventType, Put, WatchEvent
from coordkit.backends.contender_queue import QueueView
from coordkit.backends.etcd.backend import EtcdBackend
from coordkit.errors import (
    BackendUnavailableError,
    ConflictError,
    KeyExistsError,
    OperationTimeoutError,
    SessionLostError,
    VersionConflictError,
)
from coordkit.testing import eventually
from coordkit.testing.servers import EtcdCluster, EtcdServer, ServerError, etcd_binary, etcdctl_binary

DEADLINE = 15.0

try:
    _BINARY: str | None = etcd_binary()
except ServerError:
    _BINARY = None
pytestmark = pytest.mark.skipif(_BINARY is None, reason="no etcd binary on this machine")
_ETCDCTL = etcdctl_binary(_BINARY) if _BINARY else None
needs_etcdctl = pytest.mark.skipif(_ETCDCTL is None, reason="no etcdctl on this machine")


# --- helpers -----------------------------------------------------------------------------------


def etcdctl(endpoints: list[str], *args: str) -> str:
    assert _ETCDCTL is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    done = subprocess.run(
        [_ETCDCTL, "--endpoints", ",".join(endpoints), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def metric(server: EtcdServer, name: str) -> float:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    text = opener.open(f"{server.client_url}/metrics", timeout=5).read().decode()
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


class Recorder:
    """A watch callback that records events; tests wait on it with deadlines."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.cond = threading.Condition()
        self.gate = threading.Event()  # cleared: the callback blocks after recording
        self.gate.set()

    def __call__(self, event: WatchEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()
        self.gate.wait()

    def wait(self, predicate: Callable[[list[WatchEvent]], bool], what: str) -> list[WatchEvent]:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.events), DEADLINE):
                raise AssertionError(f"timed out waiting for {what}; got {self.events}")
            return list(self.events)

    def state(self) -> dict[str, bytes]:
        """The store as the delivered events describe it."""
        seen: dict[str, bytes] = {}
        for event in list(self.events):
            if event.type is EventType.PUT and event.entry is not None:
                seen[event.key] = event.entry.value
            else:
                seen.pop(event.key, None)
        return seen


def assert_ordered_once(events: list[WatchEvent]) -> None:
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions), "events out of revision order"
    writes = [(e.key, e.entry.mod_revision if e.entry else e.revision) for e in events]
    assert len(writes) == len(set(writes)), "a change was delivered twice"


def tree_values(backend: EtcdBackend, path: str) -> dict[str, bytes]:
    return {e.key: e.value for e in backend.tree(path)[0]}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared() -> Iterator[EtcdServer]:
    """One server for the tests that neither stop nor pause it (each uses its own keys)."""
    with EtcdServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[EtcdServer]:
    """A server of the test's own, for tests that stop, pause or compact it."""
    with EtcdServer() as server:
        yield server


@pytest.fixture
def cluster() -> Iterator[EtcdCluster]:
    with EtcdCluster(3) as cluster:
        yield cluster


@pytest.fixture
def make() -> Iterator[Callable[..., EtcdBackend]]:
    """Factory of connected backends, all closed after the test."""
    made: list[EtcdBackend] = []

    def connect(
        endpoints: list[str],
        namespace: str = "",
        *,
        ttl: float = 5,
        timeout: float = 5,
        sink: Callable[[ConnectionEvent], None] = lambda event: None,
    ) -> EtcdBackend:
        backend = EtcdBackend(endpoints, namespace, options={"operation_timeout": timeout, "ignored": 1})
        made.append(backend)
        backend.connect(sink, ttl=ttl, timeout=timeout)
        return backend

    yield connect
    for backend in made:
        backend.close()


def unique() -> str:
    return "t" + uuid.uuid4().hex[:10]


# --- layout -----------------------------------------------------------------------------------


@needs_etcdctl
def test_keys_are_spelled_as_etcdctl_spells_them(shared: EtcdServer, make) -> None:
    tag = unique()
    plain = make(shared.endpoints)
    spaced = make(shared.endpoints, f"/{tag}")
    plain.put(Put(f"{tag}-lock", b"no slash"))
    plain.put(Put(f"/{tag}-lock", b"slash"))
    spaced.put(Put("a/b", b"relative"))
    spaced.put(Put("/c", b"absolute"))

    keys = etcdctl(shared.endpoints, "get", "--prefix", "--keys-only", "").split()
    assert {f"{tag}-lock", f"/{tag}-lock", f"/{tag}/a/b", f"/{tag}/c"} <= set(keys)
    assert etcdctl(shared.endpoints, "get", "--print-value-only", f"{tag}-lock").strip() == "no slash"

    # Inside a namespace a leading slash means nothing, and names come back absolute.
    assert spaced.get("/a/b") == spaced.get("a/b") is not None
    assert [e.key for e in spaced.tree("/")[0]] == ["/a/b", "/c"]
    assert spaced.children("/") == ["a", "c"] and spaced.children("a") == ["b"]

    etcdctl(shared.endpoints, "put", f"/{tag}/from-etcdctl", "hi")
    entry = spaced.get("/from-etcdctl")
    assert entry is not None and entry.value == b"hi" and entry.version == 1 and entry.lease == 0


def test_root_without_namespace_lists_first_segments(shared: EtcdServer, make) -> None:
    tag = unique()
    backend = make(shared.endpoints)
    backend.put(Put(f"/{tag}/x/y", b"1"))
    backend.put(Put(f"{tag}-bare/z", b"2"))
    children = backend.children("/")
    assert tag in children and f"{tag}-bare" in children
    assert "" not in children
    names = [e.key for e in backend.tree("/")[0]]
    assert f"/{tag}/x/y" in names and f"{tag}-bare/z" in names  # tree keeps exact spelling


def test_prefix_covers_keys_strictly_below_the_path(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    for name in ("/app", "/apple", "/app/x", "/app/x/y"):
        backend.put(Put(name, b"v"))
    assert [e.key for e in backend.tree("/app")[0]] == ["/app/x", "/app/x/y"]
    assert backend.children("/app") == ["x"]
    assert backend.delete("/app", recursive=True)
    assert tree_values(backend, "/") == {"/apple": b"v"}


# --- sessions ----------------------------------------------------------------------------------


@needs_etcdctl
def test_session_ttl_is_what_the_server_granted(make) -> None:
    # With heartbeat 100 ms / election 1 s etcd's minimum lease TTL is ceil(1.5 * 1 s) = 2 s.
    with EtcdServer(heartbeat_interval_ms=100, election_timeout_ms=1000) as server:
        backend = make(server.endpoints, ttl=0.4)
        assert backend.session_ttl == 2
        granted = etcdctl(server.endpoints, "lease", "timetolive", f"{backend.session_id:x}")
        assert re.search(r"granted with TTL\(2s\)", granted), granted
        backend.keepalive(2)
        other = make(server.endpoints, ttl=7.2)
        assert other.session_ttl == 8  # whole seconds, rounded up


def test_ephemeral_key_vanishes_when_its_owner_closes(shared: EtcdServer, make) -> None:
    namespace = f"/{unique()}"
    owner, observer = make(shared.endpoints, namespace), make(shared.endpoints, namespace)
    entry = owner.put(Put("/member", b"me", ephemeral=True))
    assert entry.lease == owner.session_id != 0 and entry.ephemeral
    seen = Recorder()
    watch = observer.watch("/member", seen, prefix=False)
    owner.close()
    owner.close()  # idempotent
    events = seen.wait(lambda evs: any(e.type is EventType.DELETE for e in evs), "the DELETE")
    assert events[-1].key == "/member"
    assert observer.get("/member") is None
    watch.cancel()


def test_new_session_ends_the_old_ones_keys(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    old = backend.session_id
    backend.put(Put("/e", b"1", ephemeral=True))
    new = backend.new_session(5)
    assert new == backend.session_id != old
    assert backend.get("/e") is None
    assert backend.put(Put("/e", b"2", ephemeral=True)).lease == new


@needs_etcdctl
def test_a_revoked_lease_is_a_lost_session(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    backend.put(Put("/e", b"1", ephemeral=True))
    etcdctl(shared.endpoints, "lease", "revoke", f"{backend.session_id:x}")
    with pytest.raises(SessionLostError):
        backend.keepalive(2)
    with pytest.raises(SessionLostError):
        backend.put(Put("/e", b"2", ephemeral=True))
    assert backend.get("/e") is None
    backend.new_session(5)  # revoking the dead lease again is not an error
    assert backend.put(Put("/e", b"3", ephemeral=True)).lease == backend.session_id


# --- writes ------------------------------------------------------------------------------------


def test_each_write_is_one_round_trip(server: EtcdServer, make) -> None:
    backend = make(server.endpoints, "/ns")
    backend.put(Put("/warm", b"up"))  # the channel is connected before counting

    def calls() -> float:
        return metric(server, "grpc_server_started_total")

    joined: list[QueueView] = []
    for write in (
        lambda: backend.put(Put("/k", b"1", create=True)),
        lambda: backend.put(Put("/k", b"2", version=1)),
        lambda: backend.commit([Check("/k", version=2), Put("/j", b"x"), Delete("/warm")]),
        lambda: backend.delete("/k", version=2),
        lambda: joined.append(backend.queue_join("/lock", b"me")),
        lambda: backend.queue_leave(joined[0].mine),
    ):
        before = calls()
        write()
        assert calls() - before == 1


def test_commit_conflicts_name_the_key_and_write_nothing(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    a = backend.put(Put("/a", b"1"))
    backend.put(Put("/b", b"1"))
    _, revision = backend.tree("/")

    with pytest.raises(KeyExistsError, match="/b"):
        backend.commit([Put("/new", b"x"), Put("/b", b"2", create=True)])
    with pytest.raises(VersionConflictError, match=r"/a is at version 1, not at version 7"):
        backend.commit([Put("/new", b"x"), Put("/a", b"2", version=7)])
    with pytest.raises(VersionConflictError, match="/gone does not exist"):
        backend.commit([Check("/a"), Check("/gone"), Delete("/b")])
    with pytest.raises(VersionConflictError, match="re-created"):
        backend.commit([Check("/a", create_revision=a.create_revision + 100), Delete("/b")])
    with pytest.raises(VersionConflictError, match="absent"):
        backend.delete("/missing", version=1)
    with pytest.raises(ConflictError):
        backend.put(Put("/a", b"x", create=True))

    assert backend.tree("/")[1] == revision, "a failed commit wrote something"
    assert tree_values(backend, "/") == {"/a": b"1", "/b": b"1"}

    results = backend.commit(
        [
            Check("/a", version=1, create_revision=a.create_revision),
            Put("/a", b"2", version=1),
            Delete("/b"),
            Put("/c", b"3", create=True),
        ]
    )
    assert results[0] is None and results[2] is None
    assert results[1] is not None and results[1].version == 2 and results[1].value == b"2"
    assert results[3] is not None and results[3].mod_revision == results[1].mod_revision == revision + 1


# --- contender queues ---------------------------------------------------------------------------


def etcdctl_lock(endpoints: list[str], name: str) -> subprocess.Popen[str]:
    """``etcdctl lock name``: prints its key once it holds the lock, unlocks on SIGTERM."""
    assert _ETCDCTL is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    return subprocess.Popen(
        [_ETCDCTL, "--endpoints", ",".join(endpoints), "lock", name],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def line_from(proc: subprocess.Popen[str], timeout: float) -> str | None:
    assert proc.stdout is not None
    if not select.select([proc.stdout], [], [], timeout)[0]:
        return None
    return proc.stdout.readline().strip()


@needs_etcdctl
def test_lock_contenders_meet_etcdctl_lock(server: EtcdServer, make) -> None:
    backend = make(server.endpoints)
    ours = f"shared-lock/{backend.session_id:x}"
    holder = etcdctl_lock(server.endpoints, "shared-lock")
    waiter: subprocess.Popen[str] | None = None
    try:
        theirs = line_from(holder, DEADLINE)
        assert theirs and theirs.startswith("shared-lock/")
        view = backend.queue_join("shared-lock", b"")
        assert [c.key for c in view.contenders] == [theirs, ours] and view.position == 1
        assert backend.queue_join("shared-lock", b"").mine == view.mine  # a retry finds it again

        holder.send_signal(signal.SIGTERM)  # etcdctl unlocks
        assert backend.wait_gone(theirs, DEADLINE, threading.Event())
        contenders, _ = backend.queue_list("shared-lock")
        assert [c.key for c in contenders] == [ours]

        waiter = etcdctl_lock(server.endpoints, "shared-lock")
        eventually(
            lambda: len(backend.queue_list("shared-lock")[0]) == 2,
            message="etcdctl to queue behind us",
            timeout=DEADLINE,
        )
        assert line_from(waiter, 0) is None, "etcdctl took the lock we hold"
        backend.queue_leave(view.mine)
        acquired = line_from(waiter, DEADLINE)
        assert acquired and acquired != ours and acquired.startswith("shared-lock/")
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(DEADLINE)


def test_semaphore_contenders_are_several_per_session(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    first = backend.queue_join("sem", b"a", unique=True)  # in a namespace "sem" and "/sem" are one key:
    second = backend.queue_join("/sem", b"b", unique=True)  # contenders come back relative, "sem/..."
    assert first.mine.key.startswith("sem/") and first.position == 0
    backend.put(Put("/sem/deeper/key", b"not a contender"))
    contenders, _ = backend.queue_list("sem", values=True)
    assert [(c.key, c.value) for c in contenders] == [(first.mine.key, b"a"), (second.mine.key, b"b")]
    assert second.position == 1 and first.mine.sequence < second.mine.sequence
    backend.queue_leave(first.mine)
    backend.queue_leave(first.mine)  # idempotent
    assert [c.key for c in backend.queue_list("/sem")[0]] == [second.mine.key]


# --- watches -----------------------------------------------------------------------------------


def test_watch_delivers_200_rapid_puts_in_order(shared: EtcdServer, make) -> None:
    namespace = f"/{unique()}"
    watcher, writer = make(shared.endpoints, namespace), make(shared.endpoints, namespace)
    seen = Recorder()
    watch = watcher.watch("/q", seen, prefix=True)
    writes = [(f"/q/{i % 7}", str(i).encode()) for i in range(200)]
    for key, value in writes:
        writer.put(Put(key, value))
    events = seen.wait(lambda evs: len(evs) >= 200, "200 events")
    watch.cancel()
    assert [(e.key, e.entry.value if e.entry else None) for e in events] == writes
    assert [e.revision for e in events] == sorted({e.revision for e in events})
    assert len(seen.events) == 200  # nothing after cancel


def test_watch_callback_errors_do_not_stop_it(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    seen = Recorder()

    def flaky(event: WatchEvent) -> None:
        seen(event)
        raise RuntimeError("callback bug")

    watch = backend.watch("/k", flaky, prefix=False)
    backend.put(Put("/k", b"1"))
    backend.put(Put("/k", b"2"))
    seen.wait(lambda evs: len(evs) == 2, "both events despite the failing callback")
    watch.cancel()
    watch.cancel()


def test_cancel_waits_for_a_callback_in_flight_but_not_from_inside(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    seen = Recorder()
    seen.gate.clear()
    watch = backend.watch("/k", seen, prefix=False)
    backend.put(Put("/k", b"1"))
    seen.wait(lambda evs: len(evs) == 1, "the blocked callback")
    cancelled = threading.Event()
    canceller = threading.Thread(target=lambda: (watch.cancel(), cancelled.set()))
    canceller.start()
    assert not cancelled.wait(0.3), "cancel() returned while a callback was running"
    seen.gate.set()
    assert cancelled.wait(DEADLINE)
    canceller.join()
    backend.put(Put("/k", b"2"))

    inside: list[WatchEvent] = []
    holder: list = []

    def cancel_myself(event: WatchEvent) -> None:
        inside.append(event)
        holder[0].cancel()  # must not deadlock
        holder[0].cancel()

    holder.append(backend.watch("/k", cancel_myself, prefix=False))
    backend.put(Put("/k", b"3"))
    backend.put(Put("/k", b"4"))
    eventually(lambda: len(inside) == 1, message="the self-cancelling callback", timeout=DEADLINE)
    holder[0].cancel()
    assert len(inside) == 1 and len(seen.events) == 1


def test_watch_survives_restarts_and_resumes_where_it_stopped(server: EtcdServer, make) -> None:
    sink_events: list[ConnectionEvent] = []
    watcher = make(server.endpoints, "/ns", sink=sink_events.append)
    writer = make(server.endpoints, "/ns")
    seen = Recorder()
    watch = watcher.watch("/w", seen, prefix=True)

    # Hold the watch thread in its callback across the restart, so that the next changes are
    # certainly made while it is disconnected: it can only learn of them by resuming.
    seen.gate.clear()
    writer.put(Put("/w/a", b"1"))
    seen.wait(lambda evs: len(evs) == 1, "the first event")
    server.restart()  # same ports and data
    eventually(
        lambda: reachable(writer), message="the writer to reach the restarted server", timeout=DEADLINE
    )
    writer.put(Put("/w/a", b"2"))
    writer.put(Put("/w/b", b"3"))
    writer.commit([Delete("/w/a"), Put("/w/c", b"4")])
    final = tree_values(writer, "/w")
    seen.gate.set()
    events = seen.wait(lambda evs: seen.state() == final, f"the final state {final}")
    eventually(
        lambda: ConnectionEvent.DISCONNECTED in sink_events,
        message="DISCONNECTED from the broken stream",
        timeout=DEADLINE,
    )
    assert [(e.type, e.key) for e in events] == [
        (EventType.PUT, "/w/a"),
        (EventType.PUT, "/w/a"),
        (EventType.PUT, "/w/b"),
        (EventType.DELETE, "/w/a"),
        (EventType.PUT, "/w/c"),
    ]

    # An idle watch notices a second restart by itself and goes on.
    server.restart()
    eventually(
        lambda: sink_events.count(ConnectionEvent.DISCONNECTED) >= 2,
        message="a second DISCONNECTED",
        timeout=DEADLINE,
    )
    eventually(lambda: reachable(writer), message="the writer after the second restart", timeout=DEADLINE)
    writer.put(Put("/w/d", b"5"))
    events = seen.wait(lambda evs: evs[-1].key == "/w/d", "the change after the second restart")
    assert_ordered_once(events)
    assert len(events) == 6
    watch.cancel()


def reachable(backend: EtcdBackend) -> bool:
    try:
        backend.get("/probe")
        return True
    except BackendUnavailableError:
        return False


def test_watch_fails_over_and_sees_changes_made_while_its_member_is_down(cluster: EtcdCluster, make) -> None:
    first, *others = cluster.members
    watcher = make(cluster.endpoints, "/ns")  # talks to the first member first
    seen = Recorder()
    watch = watcher.watch("/w", seen, prefix=True)
    writer = make([m.endpoints[0] for m in others], "/ns")
    writer.put(Put("/w/before", b"0"))
    seen.wait(lambda evs: len(evs) == 1, "the first event")

    first.stop()
    cluster.wait_for_leader()
    eventually(lambda: reachable(writer), message="the remaining members to serve", timeout=DEADLINE)
    for i in range(5):
        writer.put(Put(f"/w/down{i}", str(i).encode()))
    writer.delete("/w/before")
    seen.wait(lambda evs: len(evs) == 7, "the changes made while the first member was down")

    watcher.keepalive(5)  # the session follows the watch to another member
    assert watcher.get("/w/down4") is not None
    first.start()
    writer.put(Put("/w/after", b"x"))
    events = seen.wait(lambda evs: seen.state() == tree_values(writer, "/w"), "the final state")
    assert_ordered_once(events)
    watch.cancel()


def test_connect_skips_a_dead_first_endpoint(cluster: EtcdCluster, make) -> None:
    cluster.members[0].stop()
    cluster.wait_for_leader()
    backend = make(cluster.endpoints, timeout=5)
    backend.put(Put("/k", b"v"))
    info = backend.server_info(5)
    assert info.kind == "etcd" and info.version
    assert len(info.members) == 3 and info.leader in {m.name for m in cluster.members[1:]}
    assert info.details["answered_by"] != cluster.endpoints[0]


@needs_etcdctl
def test_watch_resyncs_after_falling_behind_a_compaction(server: EtcdServer, make) -> None:
    watcher = make(server.endpoints)
    writer = make(server.endpoints)
    seen = Recorder()
    watch = watcher.watch("/w", seen, prefix=True)
    seen.gate.clear()  # the callback blocks from its first event: the stream backs up to the server
    writer.put(Put("/w/doomed", b"0"))
    writer.put(Put("/w/kept", b"0"))
    seen.wait(lambda evs: len(evs) == 1, "the blocked first event")

    # Large values fill gRPC's window; then etcd parks the watcher as slow, and what it still
    # owes is read later from history, which compaction removes.
    big = b"x" * 65536
    deadline = time.monotonic() + 60
    written = 0
    while metric(server, "etcd_debugging_mvcc_slow_watcher_total") < 1:
        assert time.monotonic() < deadline, "etcd never treated the blocked watcher as slow"
        for _ in range(20):
            writer.put(Put(f"/w/big{written % 10}", big))
            written += 1
    writer.delete("/w/doomed")
    writer.put(Put("/w/last", b"1"))
    _, revision = writer.tree("/w")
    etcdctl(server.endpoints, "compaction", str(revision))
    final = tree_values(writer, "/w")
    seen.gate.set()

    events = seen.wait(lambda evs: seen.state() == final, "the state after the resync")
    revisions = [e.revision for e in events]
    assert revisions == sorted(revisions)
    assert revisions[-1] == revision  # the synthesized events carry the read's revision
    assert any(e.type is EventType.DELETE and e.key == "/w/doomed" for e in events)
    writer.put(Put("/w/later", b"2"))  # and the watch goes on after the resync
    seen.wait(lambda evs: evs[-1].key == "/w/later", "an event after the resync")
    watch.cancel()


@needs_etcdctl
def test_watch_from_a_compacted_revision_delivers_the_current_state(server: EtcdServer, make) -> None:
    backend = make(server.endpoints, "/ns")
    first = backend.put(Put("/w/a", b"1"))
    backend.put(Put("/w/a", b"2"))
    backend.put(Put("/w/b", b"3"))
    _, revision = backend.tree("/w")
    etcdctl(server.endpoints, "compaction", str(revision))
    seen = Recorder()
    watch = backend.watch("/w", seen, prefix=True, start_revision=first.mod_revision)
    events = seen.wait(lambda evs: seen.state() == {"/w/a": b"2", "/w/b": b"3"}, "the current state")
    assert all(e.type is EventType.PUT and e.revision == revision for e in events)
    watch.cancel()


def test_watch_from_a_past_revision_replays_history(shared: EtcdServer, make) -> None:
    backend = make(shared.endpoints, f"/{unique()}")
    first = backend.put(Put("/k", b"1"))
    backend.put(Put("/k", b"2"))
    backend.delete("/k")
    seen = Recorder()
    watch = backend.watch("/k", seen, prefix=False, start_revision=first.mod_revision)
    events = seen.wait(lambda evs: len(evs) == 3, "the replayed history")
    assert [(e.type, e.entry.value if e.entry else None) for e in events] == [
        (EventType.PUT, b"1"),
        (EventType.PUT, b"2"),
        (EventType.DELETE, None),
    ]
    watch.cancel()


# --- failures ----------------------------------------------------------------------------------


def test_close_is_bounded_when_the_server_is_paused(server: EtcdServer, make) -> None:
    backend = make(server.endpoints, timeout=1)
    backend.put(Put("/e", b"1", ephemeral=True))
    watch = backend.watch("/e", Recorder(), prefix=False)
    server.pause()
    try:
        eventually(
            lambda: fully_stopped(server), message="SIGSTOP to stop every etcd thread", timeout=DEADLINE
        )
        with pytest.raises(OperationTimeoutError, match=server.endpoints[0]):
            backend.get("/e")
        started = time.monotonic()
        backend.close()
        assert time.monotonic() - started < 2.0
        watch.cancel()
    finally:
        server.resume()


def fully_stopped(server: EtcdServer) -> bool:
    # SIGSTOP takes effect asynchronously, thread by thread; "T" is the stopped state.
    states = []
    for stat in Path(f"/proc/{server.pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue  # a thread that just exited
    return bool(states) and all(state == "T" for state in states)


def test_unreachable_server_is_named_in_the_error(server: EtcdServer) -> None:
    endpoints = server.endpoints
    server.stop()
    backend = EtcdBackend(endpoints, "", options={"operation_timeout": 2})
    try:
        with pytest.raises(BackendUnavailableError, match=re.escape(endpoints[0])):
            backend.connect(lambda event: None, ttl=5, timeout=2)
    finally:
        backend.close()
