"""Every capability works with the right credentials on both secured backends."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

import coordkit
from coordkit.testing._secure import SecureEtcdServer


def test_kv_and_watch(connect_as: Callable[..., coordkit.Client]) -> None:
    client = connect_as("alice")
    events: queue.Queue[coordkit.WatchEvent] = queue.Queue()
    with client.watch("/app", events.put, recursive=True):
        client.put("/app/timeout", "5")
        event = events.get(timeout=10)
        assert (event.key, event.entry and event.entry.value) == ("/app/timeout", b"5")
    assert client.get("/app/timeout").value == b"5"
    client.commit([coordkit.Put("/app/a", b"1"), coordkit.Put("/app/b", b"2")])
    assert sorted(client.children("/app")) == ["a", "b", "timeout"]
    assert client.delete("/app/a")


def test_lock_and_election(connect_as: Callable[..., coordkit.Client]) -> None:
    first, second = connect_as("alice"), connect_as("alice")
    lock = first.lock("jobs/nightly")
    with lock:
        assert not second.lock("jobs/nightly").acquire(timeout=0.5)
        first.put("/jobs/result", "done", fence=lock)
    again = second.lock("jobs/nightly")
    assert again.acquire(timeout=5)
    again.release()
    election = first.election("settlement")
    with election.leadership("worker-1"):
        leader = second.election("settlement").leader()
        assert leader is not None and leader.proposal == "worker-1"


def test_registry_and_config(connect_as: Callable[..., coordkit.Client]) -> None:
    server, reader = connect_as("alice"), connect_as("alice")
    with server.register("payment-service", "10.0.0.7", 8081):
        assert [i.port for i in reader.instances("payment-service")] == [8081]
    admin = server.config("payment-service", writable=True)
    admin.update({"timeout": 9})
    changed = threading.Event()
    cfg = reader.config("payment-service", defaults={"timeout": 5})
    cfg.on_change(lambda changes: changed.set())
    assert cfg["timeout"] == 9
    admin.update({"timeout": 10})
    assert changed.wait(10) and cfg["timeout"] == 10


def test_a_user_limited_to_its_prefix_uses_every_recipe(secure_etcd: Any) -> None:
    """bob's etcd role allows only /bob/: coordkit touches nothing outside its namespace."""
    creds = secure_etcd.credentials("bob")
    url = f"{secure_etcd.url}/bob/{uuid.uuid4().hex[:8]}"
    with coordkit.connect(url, ttl=4, **creds) as bob, coordkit.connect(url, ttl=4, **creds) as other:
        events: queue.Queue[coordkit.WatchEvent] = queue.Queue()
        with bob.watch("/app", events.put, recursive=True):
            bob.put("/app/x", "1")
            assert events.get(timeout=10).key == "/app/x"
        with bob.lock("jobs/nightly") as lock:
            bob.put("/jobs/result", "1", fence=lock)
        with bob.semaphore("pool", 2):
            pass
        with bob.election("settlement").leadership("bob-1"):
            assert other.election("settlement").leader() is not None
        with bob.register("payment-service", "10.0.0.7", 8081):
            assert len(other.instances("payment-service")) == 1
        bob.config("payment-service", writable=True).update({"timeout": 9})
        assert other.config("payment-service", defaults={"timeout": 5})["timeout"] == 9
        assert bob.server_info().kind == "etcd"


def test_no_secret_in_reprs_and_errors(
    connect_as: Callable[..., coordkit.Client],
    secure_server: Any,
    secure_url: str,
    no_secret_in: Callable[[str], None],
) -> None:
    client = connect_as("alice")
    shown = [
        repr(client),
        str(client),
        repr(client.backend),
        repr(client.session),
        repr(client._target),
        repr(client._target.security),
    ]
    creds = {**secure_server.credentials("alice"), "password": secure_server.secrets.user("alice").password}
    del creds["password_file"]
    wrong = {**creds, "user": "mallory"} if isinstance(secure_server, SecureEtcdServer) else {}
    for attempt in filter(None, [wrong, {**creds, "tls": coordkit.TLS(ca=creds["tls"].ca)}]):
        try:
            coordkit.connect(secure_url, **attempt).close()
        except coordkit.CoordkitError as exc:
            shown += [repr(exc), str(exc), repr(exc.__cause__), str(exc.__context__)]
    no_secret_in("\n".join(shown))
    assert "***" in repr(client._target.security)
