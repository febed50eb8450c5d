"""``coordkit dev up --docker`` / ``coordkit dev down``: dev servers in containers that outlive the
command, found by later commands, and gone with their containers after ``down``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import coordkit
from coordkit import dev
from coordkit.dev.containers import container_of
from coordkit.dev.records import kill
from coordkit.testing.docker import docker_binary

pytestmark = pytest.mark.docker


def _running(name: str) -> bool:
    done = subprocess.run(
        [docker_binary(), "inspect", "--format", "{{.State.Running}}", name],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() == "true"


@pytest.fixture
def dev_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("COORDKIT_DEV_DIR", str(tmp_path / "dev"))
    yield tmp_path / "dev"
    dev.down(purge=True)


def test_dev_up_docker_then_down_leaves_no_container(dev_folder: Path) -> None:
    coordkit_cli = Path(sys.executable).with_name("coordkit")
    up = subprocess.run(
        [str(coordkit_cli), "dev", "up", "--docker", "--etcd-port", "0", "--zookeeper-port", "0", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    servers = {entry.kind: entry for entry in dev.status()}
    names = {}
    for kind in ("etcd", "zookeeper"):
        entry = servers[kind]
        assert entry.state == "running", entry
        assert entry.server is not None
        name = container_of(entry.server.command)
        assert name is not None and _running(name), entry.server.command
        names[kind] = name
        with coordkit.connect(entry.server.url, timeout=5) as client:
            client.put("/dev-docker", kind)
            assert client.get_text("/dev-docker") == kind
    results = {result.kind: result.outcome for result in dev.down()}
    assert results == {"etcd": "stopped", "zookeeper": "stopped"}
    assert not any(_running(name) for name in names.values())
    assert all(entry.state == "stopped" for entry in dev.status())


def test_killing_a_dev_server_kills_its_container(dev_folder: Path) -> None:
    result = dev.up(["etcd"], ports={"etcd": 0}, docker=True)
    (server,) = result.started
    name = container_of(server.command)
    assert name is not None and _running(name)
    kill(server)  # SIGKILL of the detached docker client, which alone would leave the container
    assert not _running(name)
