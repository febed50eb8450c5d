"""Leader election on every backend."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest

import coordkit

DEADLINE = 15.0
ClientFactory = Callable[..., coordkit.Client]


def test_campaign_leader_proclaim_resign(make_client: ClientFactory) -> None:
    a, b = make_client(), make_client()
    ea, eb = a.election("settlement"), b.election("settlement")
    assert ea.leader() is None
    assert ea.campaign("node-a")
    assert ea.is_leader
    leader = eb.leader()
    assert leader is not None and leader.proposal == "node-a" and leader.token == ea.token
    assert eb.campaign("node-b", timeout=0.2) is False
    ea.proclaim("node-a v2")
    assert eb.leader().proposal == "node-a v2"  # type: ignore[union-attr]
    with pytest.raises(coordkit.OwnershipError):
        eb.proclaim("usurper")
    elected = threading.Event()
    t = threading.Thread(target=lambda: eb.campaign("node-b", timeout=DEADLINE) and elected.set())
    t.start()
    ea.resign()
    assert elected.wait(DEADLINE)
    t.join()
    new = ea.leader()
    assert new is not None and new.proposal == "node-b" and new.token > leader.token
    eb.resign()


def test_observe_follows_leaders_and_proclamations(make_client: ClientFactory) -> None:
    a, b, watcher = make_client(), make_client(), make_client()
    seen: list[str] = []
    progress = threading.Semaphore(0)

    def observe() -> None:
        for leader in watcher.election("obs").observe(timeout=DEADLINE):
            seen.append(leader.proposal)
            progress.release()
            if leader.proposal == "b":
                return

    ea, eb = a.election("obs"), b.election("obs")
    assert ea.campaign("a")
    t = threading.Thread(target=observe)
    t.start()
    assert progress.acquire(timeout=DEADLINE)
    ea.proclaim("a2")
    assert progress.acquire(timeout=DEADLINE)
    waiting = threading.Thread(target=lambda: eb.campaign("b", timeout=DEADLINE))
    waiting.start()
    ea.resign()
    t.join(DEADLINE)
    waiting.join(DEADLINE)
    assert seen == ["a", "a2", "b"]
    eb.resign()


def test_leadership_context_and_loss(make_client: ClientFactory) -> None:
    a = make_client()
    election = a.election("ctx")
    with election.leadership("me") as e:
        assert e.is_leader and e.token is not None
    assert not election.is_leader and election.leader() is None
    assert election.campaign("again")
    a.expire_session()
    assert election.lost.wait(DEADLINE)
    assert not election.is_leader
    with pytest.raises(coordkit.OwnershipError):
        election.resign()


def test_an_election_name_means_one_election_whatever_its_spelling(make_root_client: ClientFactory) -> None:
    base = f"ck-{uuid.uuid4().hex[:12]}/settlement"
    a, b = make_root_client(), make_root_client()
    ea, eb = a.election("/" + base), b.election(base)
    assert ea.name == eb.name == base
    assert ea.campaign("node-a", timeout=DEADLINE)
    leader = eb.leader()
    assert leader is not None and leader.proposal == "node-a", "/NAME and NAME must be one election"
    assert leader.key == ea.key and leader.key.startswith(base + "/")  # one form on every backend
    assert b.get(leader.key) is not None, "Leader.key is a key name that reads back"
    assert eb.campaign("node-b", timeout=0.3) is False
    assert a.election(base).campaign("node-a2", timeout=0.3) is False  # one local guard per name
    ea.resign()
    assert eb.campaign("node-b", timeout=DEADLINE)
    eb.resign()
