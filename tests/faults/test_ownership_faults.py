"""Ownership under client faults, judged from the workers' histories (3-member clusters).

Workers are separate processes (``coordkit.testing.worker``) that log every belief with
``time.monotonic_ns()``; the checkers of ``coordkit.testing.history`` then prove, per run:
no two tenures of a lock or a leadership overlap, tokens strictly increase, the fenced
counter lost and duplicated nothing and never accepted a stale token. Each test prints the
handover margin: from the old holder's last belief to the new holder's acquisition.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import coordkit
from coordkit.testing import EtcdCluster, ZooKeeperEnsemble, eventually
from coordkit.testing.history import (
    Event,
    check_exclusive,
    check_fenced_counter,
    check_registrations,
    check_tokens_increase,
    handover_gaps,
)
from coordkit.testing.proxy import FaultProxy
from coordkit.testing.workers import Worker, Workers

from .conftest import assert_api, namespaced

TTL = 2.0
DEADLINE = 30.0
Cluster = EtcdCluster | ZooKeeperEnsemble


def _sleep_until(moment_ns: int) -> None:
    """Let a fault last until ``moment_ns`` (the fault's length is the scenario, not a guess)."""
    time.sleep(max(0.0, (moment_ns - time.monotonic_ns()) / 1e9))


def _counter(url: str) -> int:
    with coordkit.connect(url, ttl=TTL) as client:
        return int(client.get_text("/counter") or "0")


def _judge(history: list[Event], url: str, kind: str, scenario: str, limit: int = 1) -> list[float]:
    """Run every checker; print and return the handover margins (ms)."""
    violations = (
        check_exclusive(history, limit)
        + check_tokens_increase(history)
        + check_fenced_counter(history, _counter(url))
    )
    assert not violations, "\n".join(violations)
    gaps = [gap for _, _, gap in handover_gaps(history, lost_only=True)]
    if gaps:
        print(
            f"\nMARGIN {kind} {scenario}: last believed -> next acquired after a loss: "
            f"min {min(gaps):.1f} ms over {len(gaps)} handover(s)"
        )
    return gaps


def test_holder_paused_past_the_ttl_stops_believing_before_anyone_acquires(
    shared_cluster: Cluster, tmp_path: Path, api: str
) -> None:
    url = namespaced(shared_cluster)
    with Workers(tmp_path) as workers:
        a = workers.start("a", "lock", url, res="jobs", counter="/counter", write_every=10, ttl=TTL, api=api)
        a.wait_for("fence_ok", DEADLINE)
        b = workers.start(
            "b", "lock", url, res="jobs", counter="/counter", write_every=10, hold=0.3, ttl=TTL, api=api
        )
        b.wait_for("connected", DEADLINE)
        paused = a.pause()
        taken = b.wait_for("acquired", DEADLINE)
        _sleep_until(paused + int(2.5 * TTL * 1e9))
        resumed = a.resume()
        noticed = a.wait_for("lost_noticed", DEADLINE, since=resumed)
        a.wait_for("lost_callback", DEADLINE, since=resumed)
        a.wait_for("acquired", DEADLINE, since=resumed)  # and it takes its turn again later
        workers.stop()
        history = workers.history()
        assert_api(history, api)
    # The first question asked after SIGCONT already had the right answer:
    stale = [
        e
        for e in history
        if e["w"] == "a" and e["e"] == "held" and e["t0"] >= resumed and e["token"] == noticed["token"]
    ]
    assert not stale, f"a still believed after resuming: {stale[:3]}"
    assert taken["t"] > paused
    _judge(history, url, shared_cluster.kind, "holder paused 2.5x TTL")


@pytest.mark.slow
@pytest.mark.parametrize("lose_on_suspend", [True, False], ids=["lose-on-suspend", "keep-on-suspend"])
@pytest.mark.parametrize("factor", [0.5, 1.5, 3.0])
def test_holder_cut_off_never_overlaps_the_next_holder(
    shared_cluster: Cluster, tmp_path: Path, factor: float, lose_on_suspend: bool
) -> None:
    url = namespaced(shared_cluster)
    namespace = "/" + url.rsplit("/", 1)[1]
    with FaultProxy(shared_cluster.endpoints) as proxy, Workers(tmp_path) as workers:
        a = workers.start(
            "a",
            "lock",
            proxy.url(shared_cluster.scheme, namespace),
            res="jobs",
            counter="/counter",
            write_every=10,
            ttl=TTL,
            lose_on_suspend=lose_on_suspend,
            # b waits in rounds of 0.5 s, each leaving the queue and joining it again; an a that
            # joined again at once could land in that instant and be first once its stale
            # contender is gone, holding for ever (CI saw it once): a waits before contending
            # again, so b is queued ahead of it by then.
            pause_between=1.0,
        )
        a.wait_for("fence_ok", DEADLINE)
        b = workers.start("b", "lock", url, res="jobs", counter="/counter", write_every=10, hold=0.3, ttl=TTL)
        b.wait_for("connected", DEADLINE)
        cut = time.monotonic_ns()
        proxy.blackhole()
        _sleep_until(cut + int(factor * TTL * 1e9))
        proxy.heal()
        healed = time.monotonic_ns()
        if factor > 1:  # the session expired on the servers: a must have let go, b gets its turn
            a.wait_for("lost_noticed", DEADLINE, since=cut)
            b.wait_for("acquired", DEADLINE, since=cut)
        elif not lose_on_suspend:  # a short cut that the session rides out: a keeps the lock
            a.wait_for("held", DEADLINE, since=healed)
        else:  # if a saw the link in doubt it let go, and b is admitted once a's stale
            # contender is removed; a heartbeat that happened to miss the cut changes nothing
            outcome = _first_of([a], "lost_noticed", cut, also=("held", healed))
            if outcome["e"] == "lost_noticed":
                b.wait_for("acquired", DEADLINE, since=cut)
        workers.stop()
        history = workers.history()
    if factor < 1 and not lose_on_suspend:
        lost = [e for e in history if e["w"] == "a" and e["e"] == "lost_noticed"]
        assert not lost, f"a lost a lock whose session survived the cut: {lost}"
    _judge(
        history,
        url,
        shared_cluster.kind,
        f"holder cut off {factor}x TTL ({'lose' if lose_on_suspend else 'keep'} on suspend)",
    )


def test_leader_paused_then_killed_hands_over_without_two_leaders(
    shared_cluster: Cluster, tmp_path: Path, api: str
) -> None:
    url = namespaced(shared_cluster)
    with Workers(tmp_path) as workers:
        a = workers.start(
            "a", "election", url, res="leader", counter="/counter", write_every=10, ttl=TTL, api=api
        )
        a.wait_for("fence_ok", DEADLINE)
        b = workers.start(
            "b", "election", url, res="leader", counter="/counter", write_every=10, ttl=TTL, api=api
        )
        c = workers.start(
            "c", "election", url, res="leader", counter="/counter", write_every=10, ttl=TTL, api=api
        )
        b.wait_for("connected", DEADLINE)
        c.wait_for("connected", DEADLINE)
        paused = a.pause()
        elected = _first_of([b, c], "acquired", paused)
        _sleep_until(paused + int(2 * TTL * 1e9))
        resumed = a.resume()
        a.wait_for("lost_noticed", DEADLINE, since=resumed)
        leader = next(w for w in (b, c) if w.name == elected["w"])
        leader.kill()  # the new leader dies without resigning: its session expires on the servers
        other = c if leader is b else b
        _first_of([a, other], "acquired", time.monotonic_ns())
        workers.stop()
        history = workers.history()
        assert_api(history, api)
    _judge(history, url, shared_cluster.kind, "election leader paused, then the next one killed")


def _first_of(candidates: list[Worker], event: str, since: int, also: tuple[str, int] | None = None) -> Event:
    """The first ``event`` after ``since`` (or ``also``'s event after its time) logged by
    any of ``candidates``."""
    wanted = [(event, since)] + ([also] if also else [])

    def logged() -> list[Event]:
        return [
            e
            for w in candidates
            for e in w.events()
            if any(e["e"] == name and e["t"] >= after for name, after in wanted)
        ]

    found = eventually(
        logged,
        timeout=DEADLINE,
        interval=0.01,
        message=f"one of {[w.name for w in candidates]} to log {event!r}",
    )
    return min(found, key=lambda e: e["t"])


@pytest.mark.slow
def test_registrations_come_back_once_after_a_cut_past_the_ttl(
    shared_cluster: Cluster, tmp_path: Path
) -> None:
    url = namespaced(shared_cluster)
    namespace = "/" + url.rsplit("/", 1)[1]
    expected = {f"a-{i}" for i in range(3)} | {"b-0"}
    with FaultProxy(shared_cluster.endpoints) as proxy, Workers(tmp_path) as workers:
        workers.start(
            "a", "register", proxy.url(shared_cluster.scheme, namespace), res="api", count=3, ttl=TTL
        )
        workers.start("b", "register", url, res="api", count=1, ttl=TTL)
        observer = workers.start("o", "register", url, res="api", count=0, ttl=TTL)
        observer.wait_for("seen", DEADLINE, match=lambda e: set(e["ids"]) == expected)
        cut = time.monotonic_ns()
        proxy.blackhole()
        # a's session expires on the servers: its instances leave every cache ...
        observer.wait_for("seen", DEADLINE, since=cut, match=lambda e: set(e["ids"]) == {"b-0"})
        _sleep_until(cut + int(1.5 * TTL * 1e9))
        proxy.heal()
        # ... and come back, once each, when a registers them again on a new session.
        observer.wait_for("seen", DEADLINE, since=cut, match=lambda e: set(e["ids"]) == expected)
        stopping = time.monotonic_ns()
        workers.stop()  # (which deregisters everything: judge the views before)
        history = [e for e in workers.history() if e["t"] < stopping]
    violations = check_registrations(history, expected, "o")
    assert not violations, "\n".join(violations)
