"""``coordkit dev up`` once for the module (etcd and ZooKeeper), then what uses the running servers."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import processes
import pytest
from dev_helpers import run_cli, stop_everything, value_of

import coordkit
from coordkit import dev as devserver

# `coordkit dev` starts real servers, in processes of its own.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both dev servers, started by a `coordkit dev up` process that has exited since."""
    folder = tmp_path_factory.mktemp("dev-running") / "dev"
    try:
        done = run_cli(folder, "dev", "up")
        assert done.returncode == 0, done.stderr
        report = json.loads(run_cli(folder, "--json", "dev", "status").stdout)
        servers = {server["kind"]: server for server in report["servers"]}
        yield {"folder": folder, "up": done, "servers": servers}
    finally:
        stop_everything(folder)


def test_up_prints_the_urls_and_the_servers_outlive_it(running: dict[str, Any]) -> None:
    etcd, zookeeper = running["servers"]["etcd"], running["servers"]["zookeeper"]
    assert etcd["url"].startswith("etcd://127.0.0.1:") and zookeeper["url"].startswith("zk://127.0.0.1:")
    out = running["up"].stdout
    assert etcd["url"] in out and zookeeper["url"] in out
    # stdout holds the server lines only; the footer (hints for people) is on stderr
    assert [line.split()[0] for line in out.splitlines()] == ["etcd", "zookeeper"]
    assert f"export COORDKIT_URL={etcd['url']}" in running["up"].stderr
    for server in (etcd, zookeeper):
        assert processes.running(server["pid"])
        # Detached: a session of its own, so the terminal's signals do not reach it.
        assert os.getsid(server["pid"]) == server["pid"]
        assert server["folder"].startswith(str(running["folder"]))


def test_status_reports_both_running(running: dict[str, Any]) -> None:
    done = run_cli(running["folder"], "dev", "status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(s["kind"], s["state"], s["healthy"]) for s in report["servers"]] == [
        ("etcd", "running", True),
        ("zookeeper", "running", True),
    ]
    human = run_cli(running["folder"], "dev", "status").stdout.splitlines()
    assert human[0].split()[:3] == ["etcd", "running", running["servers"]["etcd"]["url"]]
    assert human[1].split()[:3] == ["zookeeper", "running", running["servers"]["zookeeper"]["url"]]


def test_up_again_changes_nothing(running: dict[str, Any]) -> None:
    done = run_cli(running["folder"], "--json", "dev", "up")
    assert done.returncode == 0, done.stderr
    servers = json.loads(done.stdout)["servers"]
    assert [(s["kind"], s["pid"], s["started"]) for s in servers] == [
        (kind, running["servers"][kind]["pid"], False) for kind in ("etcd", "zookeeper")
    ]
    human = run_cli(running["folder"], "dev", "up", "--zookeeper")
    assert "already running" in human.stdout and "zk://" in human.stdout


def test_cli_without_url_uses_the_dev_server_and_says_so(running: dict[str, Any]) -> None:
    key, value = f"/ck-dev-{uuid.uuid4().hex[:8]}", "from-the-cli"
    url = running["servers"]["etcd"]["url"]
    put = run_cli(running["folder"], "put", key, value)
    assert put.returncode == 0, put.stderr
    assert f"coordkit: using the dev server at {url}" in put.stderr
    got = run_cli(running["folder"], "get", key)
    assert (got.returncode, got.stdout.strip()) == (0, value), got.stderr
    with coordkit.connect(url) as client:
        assert value_of(client, key) == value.encode()


def test_connect_without_url_uses_the_dev_server(
    running: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("COORDKIT_DEV_DIR", str(running["folder"]))
    monkeypatch.delenv("COORDKIT_URL", raising=False)
    url = running["servers"]["etcd"]["url"]
    key = f"/ck-dev-{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.INFO, logger="coordkit"), coordkit.connect() as client:
        assert client.url == url
        client.put(key, "from-connect")
    assert f"using the dev server at {url}" in caplog.text
    with coordkit.connect(url) as client:
        assert value_of(client, key) == b"from-connect"


def test_running_url_per_kind_and_zookeeper_serves(
    running: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COORDKIT_DEV_DIR", str(running["folder"]))
    assert devserver.running_url() == running["servers"]["etcd"]["url"]
    zk_url = devserver.running_url("zookeeper")
    assert zk_url == running["servers"]["zookeeper"]["url"]
    key = f"/ck-dev-{uuid.uuid4().hex[:8]}"
    with coordkit.connect(zk_url) as client:
        client.put(key, "on-zookeeper")
        assert value_of(client, key) == b"on-zookeeper"


def test_a_folder_without_servers_has_no_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDKIT_DEV_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("COORDKIT_URL", raising=False)
    assert devserver.running_url() is None
    with pytest.raises(coordkit.ConfigurationError, match="coordkit dev up"):
        coordkit.connect()
