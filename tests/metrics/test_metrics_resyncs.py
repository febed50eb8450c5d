"""Watch resyncs are counted with their reason: a ZooKeeper watch re-reads after a new
session; an etcd watch whose revisions were compacted re-reads over the gap."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from metrics_helpers import DEADLINE, Recording, eventually, sample

import coordkit
from coordkit.testing import EtcdServer, ZooKeeperServer, etcd_binary, etcdctl_binary


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """A server of the test's own: compaction is server-wide and would disturb other tests."""
    with EtcdServer() as server:
        yield server


def test_a_zookeeper_watch_resync_after_a_new_session_is_counted(
    recording: Recording, zookeeper_server: ZooKeeperServer
) -> None:
    with coordkit.connect(f"{zookeeper_server.url}/resync-{os.getpid()}", ttl=4) as client:
        seen: list[coordkit.WatchEvent] = []
        with client.watch("/w", seen.append, recursive=True):
            generation = client.session.generation
            client.expire_session()
            eventually(lambda: client.session.generation > generation, "a new session")
            eventually(
                lambda: (
                    sample(
                        recording.registry,
                        "coordkit_watch_resyncs_total",
                        backend="zookeeper",
                        reason="reconnect",
                    )
                    >= 1
                ),
                "the resync is counted",
            )
            client.put("/w/after", "1")  # and the watch goes on
            eventually(lambda: any(e.key.endswith("/w/after") for e in seen), "an event after the resync")


def test_an_etcd_watch_over_a_compaction_gap_is_counted(recording: Recording, own_etcd: EtcdServer) -> None:
    ctl = etcdctl_binary(etcd_binary())
    assert ctl is not None, "etcdctl is missing: apt-get install etcd-client"
    with coordkit.connect(f"{own_etcd.url}/gap", ttl=4) as client:
        first = client.put("/w/a", "1")
        client.put("/w/a", "2")
        client.put("/w/b", "3")
        _, revision = client.snapshot("/w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")} | {"ETCDCTL_API": "3"}
        done = subprocess.run(
            [ctl, "--endpoints", ",".join(own_etcd.endpoints), "compaction", str(revision)],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen: list[coordkit.WatchEvent] = []
        with client.watch("/w", seen.append, recursive=True, start_revision=first.mod_revision):
            eventually(lambda: {e.key for e in seen} >= {"/w/a", "/w/b"}, "the current state", DEADLINE)
        assert (
            sample(recording.registry, "coordkit_watch_resyncs_total", backend="etcd", reason="compaction")
            == 1
        )
