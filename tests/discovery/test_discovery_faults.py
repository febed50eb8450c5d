"""Faults: the registering process killed, the server restarted or unreachable.

Tests that restart or pause a server start their own, so that nobody else is disturbed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator

import pytest

import coordkit
from coordkit.discovery import ServiceInstance
from coordkit.testing import Outage, eventually

DEADLINE = 15.0
TTL = 2.0
SLACK = 3.0  # heartbeat period, server expiry scan and watch delivery on a loaded machine

_REGISTER = textwrap.dedent("""
    import sys, coordkit
    client = coordkit.connect(sys.argv[1], ttl=float(sys.argv[2]))
    registration = client.register("payment", "127.0.0.1", 9000, id="doomed")
    print(registration.key, flush=True)
    sys.stdin.read()  # hold until killed
""")


def _ids(found: tuple[ServiceInstance, ...]) -> list[str]:
    return [i.id for i in found]


@pytest.fixture(params=["zookeeper", "etcd"])
def shared_url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/ck-{uuid.uuid4().hex[:12]}"


def test_gone_after_the_ttl_when_the_owning_process_is_killed(shared_url: str) -> None:
    with coordkit.connect(shared_url) as watcher, watcher.discover("payment") as cache:
        proc = subprocess.Popen(
            [sys.executable, "-c", _REGISTER, shared_url, str(TTL)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip().endswith("/services/payment/doomed")
            assert cache.wait_for(lambda found: _ids(found) == ["doomed"], DEADLINE)
            proc.kill()
            proc.wait(DEADLINE)
            killed = time.monotonic()
            assert cache.wait_for(lambda found: found == (), TTL + SLACK), "still listed after the TTL"
            gone_after = time.monotonic() - killed
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(DEADLINE)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
    assert gone_after <= TTL + SLACK


@pytest.fixture(params=["memory", "zookeeper", "etcd"])
def outage(request: pytest.FixtureRequest) -> Iterator[Outage]:
    with Outage(request.param) as o:
        yield o


def test_stale_while_unreachable_keeps_serving_the_last_instances(outage: Outage) -> None:
    owner, reader = outage.connect(ttl=3, timeout=2), outage.connect(ttl=3, timeout=2)
    owner.register("payment", "h", 80, id="a")
    with reader.discover("payment") as cache:
        assert not cache.stale and _ids(cache.instances) == ["a"]
        outage.cut(reader)
        try:
            eventually(lambda: cache.stale, timeout=DEADLINE, message="the cache to say it is stale")
            assert _ids(cache.instances) == ["a"]  # availability over freshness
        finally:
            outage.heal(reader)
        eventually(
            lambda: not cache.stale, timeout=DEADLINE, message="the cache to be fresh again after the outage"
        )
        owner.register("payment", "h", 81, id="b")  # owner re-registered "a" if its session was lost
        assert cache.wait_for(lambda found: _ids(found) == ["a", "b"], DEADLINE)


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_cache_follows_changes_across_a_server_restart(kind: str) -> None:
    with Outage(kind) as outage:
        assert outage.server is not None
        # The writes below start while the clients reconnect to the restarted server: give
        # them a session and an operation timeout that outlast a loaded machine's restart
        # (with 2 s, a register racing kazoo's reconnect timed out once in CI).
        owner, reader = outage.connect(ttl=10, timeout=10), outage.connect(ttl=10, timeout=10)
        first = owner.register("payment", "h", 80, id="a")
        with reader.discover("payment") as cache:
            assert _ids(cache.instances) == ["a"]
            outage.server.restart()
            owner.register("payment", "h", 81, id="b")
            first.deregister()
            assert cache.wait_for(lambda found: _ids(found) == ["b"], DEADLINE)
            assert reader.instances("payment") == list(cache.instances)


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_registered_again_after_an_outage_longer_than_the_ttl(kind: str) -> None:
    with Outage(kind) as outage:
        assert outage.server is not None
        owner, reader = outage.connect(ttl=3, timeout=2), outage.connect(ttl=3, timeout=2)
        reg = owner.register("payment", "h", 80, id="a")
        generation = owner.session.generation
        outage.cut(owner)
        try:
            # The client declares LOST by its own clock; the server, paused, has not yet
            # removed the old key, which the re-registration must then replace, not trip on.
            assert owner.session.wait_for(coordkit.SessionState.LOST, DEADLINE)
        finally:
            outage.heal(owner)
        eventually(
            lambda: reg.registered and owner.session.generation > generation,
            timeout=DEADLINE,
            message="registered again after the outage",
        )
        entry = reader.get(reg.key)
        assert entry is not None and entry.lease == owner.session.session_id
        with reader.discover("payment") as cache:
            assert _ids(cache.instances) == ["a"]
