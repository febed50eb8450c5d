"""Other tools and processes change the settings a live config follows: real ``etcdctl``, a
raw kazoo client, and the ``coordkit`` CLI in another process."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

import coordkit
from coordkit.config import ConfigChanges
from coordkit.testing import etcd_binary, etcdctl_binary

DEADLINE = 10.0


def next_batch(batches: queue.SimpleQueue[ConfigChanges]) -> dict[str, object]:
    try:
        return {key: change.new for key, change in batches.get(timeout=DEADLINE).items()}
    except queue.Empty:
        pytest.fail("no change batch arrived in time")


def unique_app() -> str:
    return "app-" + uuid.uuid4().hex[:10]


# --- etcdctl ---------------------------------------------------------------------------------
def etcdctl(server: object, *args: str, stdin: str | None = None) -> str:
    ctl = etcdctl_binary(etcd_binary())
    assert ctl is not None, "etcdctl is missing: apt-get install etcd-client"
    endpoints = ",".join(server.endpoints)  # type: ignore[attr-defined]
    done = subprocess.run(
        [ctl, f"--endpoints={endpoints}", "--command-timeout=5s", *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "ETCDCTL_API": "3"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def etcd_client(etcd_server: object) -> Iterator[coordkit.Client]:
    # No namespace: etcdctl's keys and coordkit's meet; the app name keeps tests apart.
    with coordkit.connect(etcd_server.url, ttl=4) as client:  # type: ignore[attr-defined]
        yield client


def test_etcdctl_changes_reach_the_live_config(etcd_server: object, etcd_client: coordkit.Client) -> None:
    app = unique_app()
    etcdctl(etcd_server, "put", f"/config/{app}/timeout", "5")
    with etcd_client.config(app) as cfg:
        assert cfg["timeout"] == 5
        batches: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()
        cfg.on_change(batches.put)
        etcdctl(etcd_server, "put", f"/config/{app}/timeout", "9")
        assert next_batch(batches) == {"timeout": 9}
        etcdctl(etcd_server, "put", f"/config/{app}/name", "hello")  # not JSON: a string
        assert next_batch(batches) == {"name": "hello"}
        etcdctl(etcd_server, "put", f"/config/{app}/flags", '{"fast": true}')
        assert next_batch(batches) == {"flags": {"fast": True}}
        # One etcd transaction writing two keys arrives as one batch.
        etcdctl(etcd_server, "txn", stdin=f"\nput /config/{app}/a 1\nput /config/{app}/b 1\n\n\n")
        assert next_batch(batches) == {"a": 1, "b": 1}
        etcdctl(etcd_server, "del", f"/config/{app}/name")
        assert next_batch(batches) == {"name": None} and "name" not in cfg
        assert cfg.source("timeout") == "store" and cfg.get_int("timeout") == 9


def test_etcdctl_reads_what_coordkit_writes(etcd_server: object, etcd_client: coordkit.Client) -> None:
    app = unique_app()
    with etcd_client.config(app, writable=True) as cfg:
        cfg.update({"timeout": 5, "name": "payments", "db/pool/size": 10})
    assert etcdctl(etcd_server, "get", "--print-value-only", f"/config/{app}/timeout").strip() == "5"
    assert etcdctl(etcd_server, "get", "--print-value-only", f"/config/{app}/name").strip() == '"payments"'
    listing = etcdctl(etcd_server, "get", "--prefix", "--keys-only", f"/config/{app}/").split()
    assert sorted(listing) == [
        f"/config/{app}/.version",
        f"/config/{app}/db/pool/size",
        f"/config/{app}/name",
        f"/config/{app}/timeout",
    ]


# --- a raw kazoo client -------------------------------------------------------------------------
@pytest.fixture
def kazoo(zookeeper_server: object) -> Iterator[KazooClient]:
    zk = KazooClient(hosts=",".join(zookeeper_server.endpoints), timeout=5)  # type: ignore[attr-defined]
    zk.start(timeout=10)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def test_kazoo_writes_reach_the_live_config(zookeeper_server: object, kazoo: KazooClient) -> None:
    namespace = "/" + unique_app()
    root = f"{namespace}/config/app"
    kazoo.create(f"{root}/timeout", b"5", makepath=True)
    url = f"{zookeeper_server.url}{namespace}"  # type: ignore[attr-defined]
    with coordkit.connect(url, ttl=4) as client, client.config("app") as cfg:
        assert dict(cfg) == {"timeout": 5}
        batches: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()
        cfg.on_change(batches.put)
        kazoo.set(f"{root}/timeout", b"9")
        assert next_batch(batches) == {"timeout": 9}
        kazoo.create(f"{root}/db/pool/size", b"10", makepath=True)  # parents are empty nodes
        assert next_batch(batches) == {"db/pool/size": 10}
        kazoo.set(f"{root}/db", b'{"driver": "pg"}')  # a parent node can hold a setting too
        assert next_batch(batches) == {"db": {"driver": "pg"}}
        kazoo.delete(f"{root}/timeout")
        assert next_batch(batches) == {"timeout": None}
        assert dict(cfg) == {"db": {"driver": "pg"}, "db/pool/size": 10}
        with client.config("app", writable=True) as out:
            out.set("limits", {"rps": 5})
        assert json.loads(kazoo.get(f"{root}/limits")[0]) == {"rps": 5}


# --- another process ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_a_change_made_by_another_process(request: pytest.FixtureRequest, kind: str) -> None:
    server = request.getfixturevalue(f"{kind}_server")
    url = f"{server.url}/{unique_app()}"
    with coordkit.connect(url, ttl=4) as client, client.config("payments") as cfg:
        batches: queue.SimpleQueue[ConfigChanges] = queue.SimpleQueue()
        cfg.on_change(batches.put)
        for value in ("1", "2", "3"):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "coordkit_cli",
                    "--url",
                    url,
                    "config",
                    "set",
                    "payments",
                    "timeout",
                    value,
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert done.returncode == 0, done.stderr
            assert next_batch(batches) == {"timeout": int(value)}
