"""The real-server harness against the real binaries: lifecycle, faults, clusters, cleanup.

Servers are checked with their own tools (``etcdctl``, ZooKeeper's ``ZooKeeperMain`` and ``srvr``),
never with coordkit's clients, so that a harness bug cannot hide behind a client bug.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import processes
import pytest

from coordkit.testing import (
    EtcdCluster,
    EtcdServer,
    FaultInjectionUnavailable,
    ServerError,
    ZooKeeperEnsemble,
    ZooKeeperServer,
    _process,
    _zookeeper,
    etcd_binary,
    etcdctl_binary,
    eventually,
    free_ports,
    java_binary,
    live_pids,
    servers_from_env,
    zookeeper_classpath,
)

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def etcdctl(endpoints: Sequence[str], *args: str, timeout: float = 5.0) -> subprocess.CompletedProcess[str]:
    ctl = etcdctl_binary(etcd_binary())
    assert ctl is not None, "etcdctl is missing: apt-get install etcd-client"
    command = [
        ctl,
        f"--endpoints={','.join(endpoints)}",
        "--dial-timeout=1s",
        f"--command-timeout={timeout:g}s",
    ]
    env = {**os.environ, "ETCDCTL_API": "3"}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=timeout + 10)


def etcd_get(endpoints: Sequence[str], key: str, timeout: float = 5.0) -> str | None:
    out = etcdctl(endpoints, "get", "--print-value-only", key, timeout=timeout)
    return out.stdout.strip() if out.returncode == 0 else None


def etcd_put(endpoints: Sequence[str], key: str, value: str) -> bool:
    return etcdctl(endpoints, "put", key, value, timeout=2.0).returncode == 0


def zkcli(endpoints: Sequence[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command with ZooKeeper's own Java client (quick JVM flags: it runs for a second)."""
    command = [java_binary(), "-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp"]
    main = [zookeeper_classpath(), "org.apache.zookeeper.ZooKeeperMain", "-server", ",".join(endpoints)]
    return subprocess.run([*command, *main, *args], capture_output=True, text=True, timeout=30)


def test_etcd_single_node_lifecycle() -> None:
    server = EtcdServer()
    try:
        server.start()
        assert re.fullmatch(r"etcd://127\.0\.0\.1:\d+", server.url)
        assert server.version.startswith("3.")
        assert server.is_leader()
        assert etcd_put(server.endpoints, "k", "v1")
        assert etcd_get(server.endpoints, "k") == "v1"

        first_pid, port = server.pid, server.client_port
        server.restart()
        assert server.pid != first_pid and server.client_port == port
        assert not processes.exists(first_pid or 0)
        assert etcd_get(server.endpoints, "k") == "v1"

        server.pause()
        assert server.paused and not server.healthy(timeout=0.3)
        assert etcd_get(server.endpoints, "k", timeout=0.5) is None
        server.resume()
        assert (
            eventually(
                lambda: etcd_get(server.endpoints, "k"), message="etcd answering after resume", timeout=10.0
            )
            == "v1"
        )

        pid = server.pid
        assert pid is not None and pid in live_pids()
        server.kill()
        assert not processes.exists(pid) and server.pid is None and pid not in live_pids()
        assert server.data_dir.is_dir()
        server.start()  # after a crash: same port, same data
        assert server.client_port == port and etcd_get(server.endpoints, "k") == "v1"

        root, pid = server.root_dir, server.pid
        server.stop()
        assert not root.exists() and not processes.exists(pid or 0)
    finally:
        server.stop()


def test_zookeeper_single_node_lifecycle() -> None:
    with ZooKeeperServer() as server:
        assert re.fullmatch(r"zk://127\.0\.0\.1:\d+", server.url)
        assert server.mode() == "standalone"
        assert server.session_timeout_range == (1.0, 10.0)
        assert "Created /harness" in zkcli(server.endpoints, "create", "/harness", "kept").stderr

        first_pid, port = server.pid, server.client_port
        server.restart()
        assert server.pid != first_pid and server.client_port == port and not processes.exists(first_pid or 0)
        assert "kept" in zkcli(server.endpoints, "get", "/harness").stdout

        server.pause()
        assert server.mode(timeout=0.3) is None
        server.resume()
        eventually(
            lambda: server.mode() == "standalone", message="ZooKeeper answering after resume", timeout=10.0
        )

        pid = server.pid
        assert pid is not None
        server.kill()
        assert not processes.exists(pid) and server.pid is None
        server.start()
        assert server.client_port == port and server.mode() == "standalone"
        root = server.root_dir
    assert not root.exists() and server.pid is None


def test_keep_data_leaves_the_folder() -> None:
    server = EtcdServer(keep_data=True)
    with server:
        root = server.root_dir
    try:
        assert (root / "data").is_dir() and (root / "server.log").is_file()
    finally:
        shutil.rmtree(root)


def test_a_failed_start_reports_the_log_and_leaves_nothing() -> None:
    server = EtcdServer(extra_args=["--no-such-flag"], start_timeout=10)
    before = live_pids()
    with pytest.raises(ServerError, match="no-such-flag"):
        server.start()
    assert server.pid is None and live_pids() == before
    with pytest.raises(ServerError):
        server.root_dir  # noqa: B018 - the folder is gone with the failed start


def test_a_port_taken_before_the_server_binds_it_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    real = free_ports
    calls: list[int] = []

    def first_pick_is_taken(count: int) -> list[int]:
        calls.append(count)
        ports = real(count)
        return [taken, *ports[1:]] if len(calls) == 1 else ports

    monkeypatch.setattr(_process, "free_ports", first_pick_is_taken)
    try:
        with EtcdServer() as server:
            assert server.client_port != taken and len(calls) == 2
            assert server.healthy()
    finally:
        squatter.close()


@pytest.mark.slow
def test_zookeeper_ensemble_survives_losing_its_leader() -> None:
    with ZooKeeperEnsemble(3) as ensemble:
        assert ensemble.url == "zk://" + ",".join(ensemble.endpoints) and len(ensemble.endpoints) == 3
        assert sorted(m.mode() or "" for m in ensemble.members) == ["follower", "follower", "leader"]
        assert "Created /survivor" in zkcli(ensemble.endpoints, "create", "/survivor", "x").stderr

        old = ensemble.wait_for_leader()
        old_pid = old.pid
        old.kill()
        assert not processes.exists(old_pid or 0)
        rest = [m for m in ensemble.members if m is not old]
        new = ensemble.wait_for_leader(timeout=15)
        assert new is not old
        eventually(
            lambda: sorted(m.mode() or "" for m in rest) == ["follower", "leader"],
            message="ZooKeeper quorum of two",
            timeout=10.0,
        )
        assert "x" in zkcli([m.endpoints[0] for m in rest], "get", "/survivor").stdout

        old.start()  # rejoins with its data
        assert old.mode() == "follower"


@pytest.mark.slow
def test_etcd_cluster_survives_losing_its_leader() -> None:
    with EtcdCluster(3) as cluster:
        assert cluster.url == "etcd://" + ",".join(cluster.endpoints) and len(cluster.endpoints) == 3
        assert etcd_put(cluster.endpoints, "a", "1")

        follower = next(m for m in cluster.members if not m.is_leader())
        follower.pause()
        assert etcd_put([m.endpoints[0] for m in cluster.members if m is not follower], "b", "2")
        follower.resume()

        old = cluster.wait_for_leader()
        old_pid = old.pid
        old.kill()
        assert not processes.exists(old_pid or 0)
        rest = [m.endpoints[0] for m in cluster.members if m is not old]
        eventually(
            lambda: etcd_put(rest, "c", "3"), message="a write to the two remaining members", timeout=10.0
        )
        assert cluster.wait_for_leader() is not old

        old.start()
        assert etcd_get(old.endpoints, "c") == "3" and etcd_get(old.endpoints, "b") == "2"


def test_external_servers_offer_urls_but_no_process_control(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COORDKIT_TEST_ZK_URL", "zk://h1:2181,h2:2181/chroot")
    monkeypatch.setenv("COORDKIT_TEST_ETCD_URL", "127.0.0.1:2379")
    found = servers_from_env()
    assert found.zookeeper is not None and found.etcd is not None
    assert found.zookeeper.url == "zk://h1:2181,h2:2181/chroot"
    assert found.zookeeper.endpoints == ["h1:2181", "h2:2181"]
    assert found.etcd.url == "etcd://127.0.0.1:2379"
    with found.etcd as server:  # start/stop are no-ops
        for action in (server.kill, server.pause, server.resume, server.restart):
            with pytest.raises(FaultInjectionUnavailable, match="local etcd process"):
                action()
        with pytest.raises(NotImplementedError):
            server.pid  # noqa: B018
    monkeypatch.setenv("COORDKIT_TEST_ETCD_URL", "zk://oops:1")
    with pytest.raises(ValueError, match="etcd://"):
        servers_from_env()
    monkeypatch.delenv("COORDKIT_TEST_ZK_URL")
    monkeypatch.delenv("COORDKIT_TEST_ETCD_URL")
    assert servers_from_env().zookeeper is None and servers_from_env().etcd is None


def test_missing_installs_name_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COORDKIT_ETCD_BIN", str(tmp_path / "etcd"))
    with pytest.raises(ServerError, match="not an executable file"):
        EtcdServer()
    monkeypatch.delenv("COORDKIT_ZK_CLASSPATH", raising=False)
    monkeypatch.delenv("ZOOKEEPER_HOME", raising=False)
    monkeypatch.setattr(_zookeeper, "_JAR_DIRS", (str(tmp_path),))
    with pytest.raises(ServerError, match="apt-get install zookeeper"):
        ZooKeeperServer()


def test_servers_left_running_die_with_the_interpreter() -> None:
    script = (
        "from coordkit.testing import EtcdServer\n"
        "server = EtcdServer(); server.start()\n"
        "print(server.pid, server.root_dir, flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    pid, root = out.stdout.split()
    assert not processes.exists(int(pid)) and not Path(root).exists()
