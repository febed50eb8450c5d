"""etcd auth tokens expire and vanish with a restart: the session, its lock and its watch carry on.

python-etcd3 keeps the token of its first Authenticate for good; coordkit authenticates again
when etcd calls a token invalid and repeats the refused call (etcd refused it before applying it).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.testing import eventually
from coordkit.testing._secure import SecureEtcdServer, User


@pytest.fixture
def short_tokens() -> Iterator[SecureEtcdServer]:
    """A secure etcd whose simple tokens live 2 s (--auth-token-ttl 2)."""
    with SecureEtcdServer(users=[User("alice")], auth_token_ttl=2) as server:
        yield server


def _wait_for_log(server: SecureEtcdServer, text: str, after: int, timeout: float) -> None:
    eventually(
        lambda: text in server.log_path.read_text()[after:],
        timeout=timeout,
        interval=0.1,
        message=f"etcd to log {text!r}",
    )


def test_a_token_expiring_under_a_held_lock_keeps_lock_and_session(short_tokens: SecureEtcdServer) -> None:
    creds = short_tokens.credentials("alice")
    with (
        coordkit.connect(short_tokens.url, ttl=10, **creds) as client,
        coordkit.connect(short_tokens.url, ttl=10, **creds) as observer,
    ):
        lock = client.lock("jobs/nightly")
        assert lock.acquire(timeout=5)
        key = lock.key
        mark = len(short_tokens.log_path.read_text())
        # etcd logs when it drops an unused simple token: wait for it, by a deadline.
        _wait_for_log(short_tokens, "deleted a simple token", mark, 20)
        assert lock.is_held and client.session.state is coordkit.SessionState.CONNECTED
        events: queue.Queue[coordkit.WatchEvent] = queue.Queue()
        with client.watch("/jobs", events.put, recursive=True):  # a watch opened with a stale token
            observer.put("/jobs/seen", "1")
            assert events.get(timeout=10).key == "/jobs/seen"
        client.put("/jobs/result", "done", fence=lock)  # a write with a stale token, renewed
        lock.release()
        assert observer.get(key) is None and observer.get("/jobs/result").value == b"done"
        assert client.session.state is coordkit.SessionState.CONNECTED


def test_a_restart_under_auth_keeps_lock_session_and_watch(short_tokens: SecureEtcdServer) -> None:
    creds = short_tokens.credentials("alice")
    with coordkit.connect(short_tokens.url, ttl=10, **creds) as client:
        generation = client.session.generation
        back = threading.Event()
        client.add_listener(
            lambda event: back.set() if event.state is coordkit.SessionState.CONNECTED else None
        )
        lock = client.lock("jobs/nightly", lose_on_suspend=False)
        assert lock.acquire(timeout=5)
        events: queue.Queue[coordkit.WatchEvent] = queue.Queue()
        with client.watch("/jobs", events.put, recursive=True):
            short_tokens.restart()  # every simple token is gone with the old process
            client.put("/jobs/after", "1")
            assert events.get(timeout=10).key == "/jobs/after"
        assert lock.is_held and client.session.generation == generation
        assert client.session.state is coordkit.SessionState.CONNECTED
        client.put("/jobs/fenced", "1", fence=lock)
        key = lock.key
        lock.release()
        assert key is not None and client.get(key) is None


def test_many_calls_meeting_one_expired_token_renew_it_once(short_tokens: SecureEtcdServer) -> None:
    # Each refused call used to drop whatever token was current, the one another thread had
    # just fetched too: 16 calls at one expiry made 10-13 Authenticate requests.
    with coordkit.connect(short_tokens.url, ttl=10, **short_tokens.credentials("alice")) as client:
        client.put("/k", "v")
        channel = client.backend._conn.current().client  # type: ignore[attr-defined]
        before = channel.authentications
        mark = len(short_tokens.log_path.read_text())
        _wait_for_log(short_tokens, "deleted a simple token", mark, 20)
        start = threading.Barrier(16)
        values: list[bytes | None] = []

        def read() -> None:
            start.wait(timeout=10)
            entry = client.get("/k")
            values.append(entry.value if entry else None)

        threads = [threading.Thread(target=read) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert values == [b"v"] * 16
        assert channel.authentications - before == 1


def test_a_password_changed_on_the_server_is_not_asked_again_and_again(
    short_tokens: SecureEtcdServer,
) -> None:
    # Once etcd refused the password, every later call and heartbeat sent its own doomed
    # Authenticate (about 2.5 a second per client, each a bcrypt check on the server).
    with coordkit.connect(short_tokens.url, ttl=10, **short_tokens.credentials("alice")) as client:
        client.put("/k", "v")
        channel = client.backend._conn.current().client  # type: ignore[attr-defined]
        short_tokens.etcdctl("user", "passwd", "alice", "--interactive=false", stdin="changed-elsewhere\n")
        deadline = time.monotonic() + 20
        while True:  # the old token dies within its 2 s TTL; then the password is refused
            try:
                client.put("/k", "still the old password")
            except coordkit.AuthenticationError:
                break
            assert time.monotonic() < deadline, "the changed password was never refused"
        attempts = channel.attempts
        for _ in range(20):
            with pytest.raises(coordkit.AuthenticationError, match="user or password was rejected"):
                client.get("/k")
        assert channel.attempts - attempts <= 1


def test_auth_disabled_then_enabled_at_runtime_keeps_lock_and_session(short_tokens: SecureEtcdServer) -> None:
    # With authentication turned off, Authenticate answers "not enabled": every call and
    # heartbeat of a client with a user failed, and its session was lost, while etcd's own
    # client carries on without a token.
    with coordkit.connect(short_tokens.url, ttl=10, **short_tokens.credentials("alice")) as client:
        lock = client.lock("jobs/nightly")
        assert lock.acquire(timeout=5)
        short_tokens.etcdctl("auth", "disable")
        client.put("/jobs/off", "1", fence=lock)
        with coordkit.connect(short_tokens.url, ttl=10, **short_tokens.credentials("alice")) as late:
            assert late.get("/jobs/off") is not None  # a client made while auth is off
        short_tokens.etcdctl("auth", "enable", user=None)
        client.put("/jobs/on", "1", fence=lock)  # no token sent: refused, authenticated, repeated
        assert lock.is_held and client.session.state is coordkit.SessionState.CONNECTED
        lock.release()
        entry = client.get("/jobs/on")
        assert entry is not None and entry.version == 1
