"""A live config across a server crash and restart (dedicated servers): it serves the last
known settings and says it is stale while the server is down, then catches up with every
change made after the restart, in order, without repeating anything."""

from __future__ import annotations

import itertools
import queue
from collections.abc import Iterator

import pytest

import coordkit
from coordkit import SessionState
from coordkit.config import ConfigChanges
from coordkit.testing import EtcdServer, ZooKeeperServer, eventually

DEADLINE = 20.0


@pytest.fixture(params=["zookeeper", "etcd"])
def server(request: pytest.FixtureRequest) -> Iterator[ZooKeeperServer | EtcdServer]:
    with ZooKeeperServer() if request.param == "zookeeper" else EtcdServer() as dedicated:
        yield dedicated


def write_when_back(cfg: coordkit.config.Config, key: str, value: int) -> None:
    """Write as soon as the server takes writes again (a write is not retried by itself)."""

    def write() -> bool:
        cfg.set(key, value)
        return True

    eventually(
        write,
        timeout=DEADLINE,
        interval=0.05,
        ignoring=(coordkit.BackendUnavailableError,),
        message="the server to take the write",
    )


@pytest.mark.parametrize("outage", ["short", "past the session TTL"])
def test_config_survives_a_server_restart_without_missing_changes(
    server: ZooKeeperServer | EtcdServer, outage: str
) -> None:
    with (
        coordkit.connect(server.url, ttl=2, timeout=1) as reader,
        coordkit.connect(server.url, ttl=2, timeout=1) as writer,
        reader.config("app") as cfg,
        writer.config("app", writable=True) as out,
    ):
        batches: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()
        cfg.on_change(batches.put)
        out.set("timeout", 1)
        assert dict(batches.get(timeout=DEADLINE)) == {"timeout": (None, 1)}
        assert not cfg.stale and cfg.connected

        server.kill()  # a crash: data and ports stay for start()
        eventually(lambda: cfg.stale, message="the config says it is stale", timeout=DEADLINE)
        assert cfg["timeout"] == 1 and not cfg.connected, "the last known setting is not served"
        if outage != "short":
            assert reader.session.wait_for(SessionState.LOST, DEADLINE)
        generation = reader.session.generation
        server.start()

        for value in (2, 3, 4):
            write_when_back(out, "timeout", value)
        eventually(lambda: cfg.get("timeout") == 4, message="the config caught up", timeout=DEADLINE)
        eventually(lambda: not cfg.stale, message="the config is no longer stale", timeout=DEADLINE)
        seen = []
        while not batches.empty():
            batch = batches.get_nowait()
            assert set(batch) == {"timeout"}, batch
            seen.append(batch["timeout"])
        # Quick writes may be folded into one batch, but never reordered or repeated.
        assert seen[0].old == 1 and seen[-1].new == 4, seen
        assert all(a.new == b.old for a, b in itertools.pairwise(seen)), seen
        assert [c.new for c in seen] == sorted({c.new for c in seen}), seen
        if outage != "short":
            assert reader.session.generation > generation, "no new session was opened"
