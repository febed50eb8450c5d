"""``when_connected`` (core/when_connected.py): background work that needs its session runs
once it is CONNECTED, and ``done`` runs once in every case, so that nobody waits for it for
ever: a session already LOST (its event heard before the call), or no thread to be had."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

import coordkit
from coordkit import SessionEvent, SessionState
from coordkit.core import when_connected as module
from coordkit.core.when_connected import when_connected

pytestmark = pytest.mark.memory

DEADLINE = 5.0


@pytest.fixture
def client() -> Iterator[coordkit.Client]:
    with coordkit.connect(f"memory://wc-{uuid.uuid4().hex[:8]}", timeout=0.5) as client:
        yield client


def test_the_work_runs_on_a_connected_session_and_then_done(client: coordkit.Client) -> None:
    ran, done = threading.Event(), threading.Event()
    when_connected(client, client.session.generation, ran.set, "a test's work", done=done.set)
    assert ran.wait(DEADLINE) and done.wait(DEADLINE)


def test_a_session_lost_before_the_call_runs_done_at_once(client: coordkit.Client) -> None:
    """The LOST event was dispatched before the call: no event of that generation will
    come, and the next generation may be a long outage away (unreachable here)."""
    lost = threading.Event()

    def on_session(event: SessionEvent) -> None:
        if event.state is SessionState.LOST:
            lost.set()

    client.session.add_listener(on_session)
    generation = client.session.generation
    client.backend.set_reachable(False)  # type: ignore[attr-defined]  # no new session meanwhile
    client.session.expire_now()
    assert lost.wait(DEADLINE)
    ran, done = threading.Event(), threading.Event()
    when_connected(client, generation, ran.set, "a test's work", done=done.set)
    assert done.is_set() and not ran.is_set()  # at once, on the caller's thread
    assert client.session.generation == generation  # still no new session: not what ended it


def test_no_thread_to_be_had_still_runs_done(
    client: coordkit.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(module.threading.Thread, "start", refused)
    ran, done = threading.Event(), threading.Event()
    when_connected(client, client.session.generation, ran.set, "a test's work", done=done.set)
    monkeypatch.undo()
    assert done.is_set() and not ran.is_set()
    assert "a test's work left to the end of its session: can't start new thread" in caplog.text


def _lost_and_unreachable(client: coordkit.Client) -> int:
    """The session LOST (its event heard), no new one until the store is reachable again."""
    lost = threading.Event()
    client.session.add_listener(lambda event: lost.set() if event.state is SessionState.LOST else None)
    generation = client.session.generation
    client.backend.set_reachable(False)  # type: ignore[attr-defined]
    client.session.expire_now()
    assert lost.wait(DEADLINE)
    return generation


def test_cleanup_generation_is_the_one_sent_under_while_it_lives_else_the_next(
    client: coordkit.Client,
) -> None:
    """A write cut off by the session's replacement may have landed on the replacing session
    (the lease changes before the generation is announced): its cleanup belongs there."""
    generation = client.session.generation
    assert module.cleanup_generation(client, generation) == generation
    assert module.cleanup_generation(client, _lost_and_unreachable(client)) == generation + 1


def test_the_next_generation_is_waited_for_then_the_work_runs_in_it(client: coordkit.Client) -> None:
    """Asked for the generation after a LOST one, the work waits for it (not done at once, as
    for the LOST generation itself) and runs once it is CONNECTED."""
    generation = _lost_and_unreachable(client)
    ran_in, done = [], threading.Event()
    when_connected(
        client,
        generation + 1,
        lambda: ran_in.append(client.session.generation),
        "a test's work",
        done=done.set,
    )
    assert not done.is_set() and ran_in == []
    client.backend.set_reachable(True)  # type: ignore[attr-defined]
    assert done.wait(DEADLINE)
    assert ran_in == [generation + 1]


def test_waiting_for_the_next_generation_ends_when_the_client_closes(client: coordkit.Client) -> None:
    generation = _lost_and_unreachable(client)
    ran, done = threading.Event(), threading.Event()
    when_connected(client, generation + 1, ran.set, "a test's work", done=done.set)
    client.close()
    assert done.wait(DEADLINE) and not ran.is_set()
