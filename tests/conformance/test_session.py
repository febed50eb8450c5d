"""Sessions: states, listeners, ephemeral keys, expiry and renewal, on every backend."""

from __future__ import annotations

import queue

import pytest

import coordkit
from coordkit import SessionEvent, SessionState

DEADLINE = 10.0


def _next_state(events: queue.SimpleQueue[SessionEvent], state: SessionState) -> SessionEvent:
    while True:
        event = events.get(timeout=DEADLINE)
        if event.state is state:
            return event


def test_connect_gives_a_connected_session(client: coordkit.Client) -> None:
    assert client.state is SessionState.CONNECTED
    assert client.session.session_id != 0
    assert client.session.ttl > 0


def test_ephemeral_key_vanishes_at_once_on_close(make_client) -> None:  # type: ignore[no-untyped-def]
    owner, observer = make_client(ttl=30), make_client()
    owner.put("/eph/me", "here", ephemeral=True)
    entry = observer.get("/eph/me")
    assert entry is not None and entry.ephemeral and entry.lease == owner.session.session_id
    owner.close()
    # ttl=30: only a real close, not an expiry, can remove it before the read below.
    assert observer.get("/eph/me") is None
    assert owner.state is SessionState.CLOSED


def test_expired_session_loses_ephemerals_and_is_replaced(make_client) -> None:  # type: ignore[no-untyped-def]
    owner, observer = make_client(), make_client()
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
    owner.add_listener(events.put)
    owner.put("/eph/a", "1", ephemeral=True)
    first_generation = owner.session.generation
    with observer.watch("/eph/a") as watch:
        owner.expire_session()
        lost = _next_state(events, SessionState.LOST)
        assert lost.generation == first_generation
        reconnected = _next_state(events, SessionState.CONNECTED)
        assert reconnected.generation == first_generation + 1
        gone = watch.get(timeout=DEADLINE)
        assert gone is not None and gone.type is coordkit.EventType.DELETE
    assert observer.get("/eph/a") is None
    # the new session works and owns new ephemerals
    entry = owner.put("/eph/b", "2", ephemeral=True)
    assert entry.lease == owner.session.session_id != lost.session_id


def test_listener_errors_do_not_stop_other_listeners(make_client) -> None:  # type: ignore[no-untyped-def]
    owner = make_client()
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()

    def broken(event: SessionEvent) -> None:
        raise RuntimeError("listener bug")

    owner.add_listener(broken)
    owner.add_listener(events.put)
    owner.close()
    assert _next_state(events, SessionState.CLOSED).previous is SessionState.CONNECTED


def test_bad_urls_and_options_are_configuration_errors() -> None:
    for url, needle in [
        ("http://x", "zk://"),
        ("etcd://", "names no server"),
        ("etcd://host:99999", "out of range"),
        ("zk://h:2181/a//b", "empty segment"),
        ("memory://?ttl=abc", "ttl"),
        ("memory://?ttl=-1", "positive"),
        ("memory://?colour=red", "unknown option"),
    ]:
        with pytest.raises(coordkit.ConfigurationError, match=needle):
            coordkit.connect(url)


def test_missing_url_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COORDKIT_URL", raising=False)
    with pytest.raises(coordkit.ConfigurationError, match="COORDKIT_URL"):
        coordkit.connect()
    monkeypatch.setenv("COORDKIT_URL", "memory://from-env")
    with coordkit.connect() as c:
        assert c.kind == "memory"


@pytest.mark.parametrize("query", ["ttl=abc", "timeout=0", "colour=red"])
def test_a_bad_url_option_is_refused_though_a_keyword_overrides_it(store_url: str, query: str) -> None:
    """Every backend refuses the URL before connecting, whatever keywords are passed."""
    sep = "&" if "?" in store_url else "?"
    with pytest.raises(coordkit.ConfigurationError, match=query.partition("=")[0]):
        coordkit.connect(f"{store_url}{sep}{query}", ttl=5, timeout=3)
