"""Session state, transitions, losses, reconnect time and heartbeats, store-call spans and
watch events on every backend; and that nothing is recorded or exported when disabled."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from metrics_helpers import DEADLINE, Recording, eventually, names, sample

import coordkit
import coordkit.metrics
from coordkit.backends import probe as probes

MakeClient = Callable[..., coordkit.Client]


def test_session_state_losses_and_reconnect(recording: Recording, make_client: MakeClient) -> None:
    client = make_client(ttl=3)
    reg, kind = recording.registry, client.kind
    assert sample(reg, "coordkit_session_state", backend=kind, state="connected") == 1
    generation = client.session.generation
    client.expire_session()
    eventually(lambda: client.session.generation > generation, "a new session opened")
    assert client.session.wait_for(coordkit.SessionState.CONNECTED, DEADLINE)
    eventually(
        lambda: sample(reg, "coordkit_session_reconnect_seconds_count", backend=kind) == 1,
        "the reconnect is timed",
    )
    assert sample(reg, "coordkit_session_losses_total", backend=kind) == 1
    assert sample(reg, "coordkit_session_transitions_total", backend=kind, state="lost") == 1
    assert sample(reg, "coordkit_session_transitions_total", backend=kind, state="connected") == 2
    assert sample(reg, "coordkit_session_state", backend=kind, state="connected") == 1
    assert sample(reg, "coordkit_session_state", backend=kind, state="lost") == 0
    # A heartbeat runs every ttl / 3 = 1 s.
    eventually(
        lambda: sample(reg, "coordkit_keepalive_seconds_count", backend=kind) >= 1, "a heartbeat is timed"
    )
    client.close()
    assert sample(reg, "coordkit_session_state", backend=kind, state="connected") == 0


def test_store_calls_are_timed_and_traced(recording: Recording, make_client: MakeClient) -> None:
    client = make_client()
    reg = recording.registry
    client.put("/a", "1")
    assert client.get("/a") is not None
    assert not client.delete("/missing")
    assert sample(reg, "coordkit_operation_seconds_count", backend=client.kind, op="put", outcome="ok") == 1
    assert sample(reg, "coordkit_operation_seconds_count", backend=client.kind, op="get", outcome="ok") == 1
    with pytest.raises(coordkit.VersionConflictError):
        client.put("/a", "2", version=999)
    assert (
        sample(reg, "coordkit_operation_seconds_count", backend=client.kind, op="put", outcome="error") == 1
    )
    spans = {s.name: s for s in recording.spans.get_finished_spans()}
    assert {"coordkit put", "coordkit get", "coordkit delete"} <= spans.keys()
    attributes = spans["coordkit get"].attributes
    assert attributes is not None and attributes["coordkit.backend"] == client.kind
    failed = [s for s in recording.spans.get_finished_spans() if s.name == "coordkit put"][-1]
    assert failed.attributes is not None and failed.attributes["error.type"] == "VersionConflictError"


def test_watch_events_are_counted(recording: Recording, make_client: MakeClient) -> None:
    client = make_client()
    reg = recording.registry
    seen: list[coordkit.WatchEvent] = []
    client.put("/w/gone", "x")  # known to the watch: its DELETE is certain (ZooKeeper reads after)
    with client.watch("/w", seen.append, recursive=True):
        for k in range(3):
            client.put(f"/w/{k}", "x")
        client.delete("/w/gone")
        eventually(lambda: len(seen) == 4, "the watch delivered every change")
    assert sample(reg, "coordkit_watch_events_total", backend=client.kind, type="put") == 3
    assert sample(reg, "coordkit_watch_events_total", backend=client.kind, type="delete") == 1


def test_watch_lag_counts_the_time_an_event_waits_behind_a_slow_callback(
    recording: Recording, make_client: MakeClient
) -> None:
    """The second change reaches the client while the callback still works on the first: its
    lag (from the store's notification to its callbacks having run) includes that wait."""
    client = make_client()
    reg, slow = recording.registry, 0.3
    seen: list[coordkit.WatchEvent] = []

    def slow_callback(event: coordkit.WatchEvent) -> None:
        if not seen:
            time.sleep(slow)  # the callback's own work, which the next event waits behind
        seen.append(event)

    with client.watch("/lag", slow_callback, recursive=True):
        client.put("/lag/a", "1")
        client.put("/lag/b", "2")
        eventually(lambda: len(seen) == 2, "the watch delivered both changes")
        eventually(
            lambda: sample(reg, "coordkit_watch_lag_seconds_count", backend=client.kind) >= 1,
            "the lag is recorded",
        )
    total = sample(reg, "coordkit_watch_lag_seconds_sum", backend=client.kind)
    assert slow * 0.9 <= total < DEADLINE, f"lag {total:.3f}s for events held {slow}s behind a callback"


def test_disabled_records_and_exports_nothing(recording: Recording, make_client: MakeClient) -> None:
    assert "coordkit_lock_wait_seconds" in names(recording.registry)
    coordkit.metrics.disable()
    assert probes.active is None
    assert not {n for n in names(recording.registry) if n.startswith("coordkit_")}
    client = make_client()
    with client.lock("quiet"):
        client.put("/k", "v")
    assert not recording.spans.get_finished_spans()
    coordkit.metrics.disable()  # idempotent


def test_gauges_of_what_began_before_enable_never_go_below_zero(
    recording: Recording, make_client: MakeClient
) -> None:
    coordkit.metrics.disable()
    client = make_client(ttl=3)
    lock = client.lock("early")
    assert lock.acquire(timeout=DEADLINE)  # a session and a holding begun unobserved
    coordkit.metrics.enable(registry=recording.registry)
    reg, kind = recording.registry, client.kind
    generation = client.session.generation
    client.expire_session()
    assert lock.lost.wait(DEADLINE)
    eventually(lambda: client.session.generation > generation, "a new session opened")
    assert client.session.wait_for(coordkit.SessionState.CONNECTED, DEADLINE)
    eventually(
        lambda: sample(reg, "coordkit_session_state", backend=kind, state="connected") == 1,
        "connected counted",
    )
    assert sample(reg, "coordkit_session_state", backend=kind, state="lost") == 0
    assert sample(reg, "coordkit_locks_held", kind="lock") == 0
    assert sample(reg, "coordkit_lock_losses_total", kind="lock") == 1
