"""``coordkit dev`` starting, stopping and recovering: down, stale records, ports, failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import processes
import pytest
from dev_helpers import dev_env, run_cli, value_of, wait_gone

import coordkit
from coordkit import dev as devserver

# `coordkit dev` starts real servers, in processes of its own.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper]


def _state(folder: Path, kind: str) -> dict[str, Any]:
    return json.loads((folder / f"{kind}.json").read_text())


def test_down_stops_both_keeps_data_and_purge_removes_it(dev_folder: Path) -> None:
    assert run_cli(dev_folder, "dev", "up").returncode == 0
    pids = {kind: int(_state(dev_folder, kind)["pid"]) for kind in devserver.KINDS}
    etcd_url = devserver.running_url("etcd")
    assert etcd_url is not None
    with coordkit.connect(etcd_url) as client:
        client.put("/kept", "across restarts")

    done = run_cli(dev_folder, "dev", "down")
    assert done.returncode == 0, done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["etcd", "stopped"],
        ["zookeeper", "stopped"],
    ]
    for pid in pids.values():
        wait_gone(pid, timeout=2)  # down has returned: its servers must be gone at once
    assert not list(dev_folder.glob("*.json"))
    assert (dev_folder / "etcd" / "data").is_dir() and (dev_folder / "zookeeper" / "data").is_dir()
    assert run_cli(dev_folder, "dev", "status").returncode == 1

    restarted = devserver.up(["etcd"])
    assert restarted.started[0].pid != pids["etcd"]
    with coordkit.connect(restarted.started[0].url) as client:
        assert value_of(client, "/kept") == b"across restarts"
    purged = devserver.down(purge=True)
    assert [(r.kind, r.outcome, r.purged) for r in purged] == [
        ("etcd", "stopped", True),
        ("zookeeper", "not running", True),
    ]
    assert not (dev_folder / "etcd").exists() and not (dev_folder / "zookeeper").exists()


def test_a_stale_record_is_reported_ignored_and_replaced(dev_folder: Path) -> None:
    first = devserver.up(["etcd"]).started[0]
    os.kill(first.pid, signal.SIGKILL)
    wait_gone(first.pid)
    assert [s.state for s in devserver.status(["etcd"])] == ["stale"]
    assert devserver.running_url() is None
    with pytest.raises(coordkit.ConfigurationError, match="coordkit dev up"):
        coordkit.connect()
    shown = run_cli(dev_folder, "dev", "status", "--etcd")
    assert shown.returncode == 1 and "stale" in shown.stdout

    second = devserver.up(["etcd"])
    assert second.already_running == () and second.started[0].pid != first.pid
    assert devserver.running_url() == second.started[0].url
    assert [(r.outcome, r.pid) for r in devserver.down(["etcd"])] == [("stopped", second.started[0].pid)]


def test_down_leaves_a_reused_pid_alone(dev_folder: Path) -> None:
    # A record whose pid now belongs to another program, as after a reboot.
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dev_folder.mkdir(parents=True)
        record = {
            "kind": "etcd",
            "pid": other.pid,
            "url": "etcd://127.0.0.1:1",
            "ports": {"client": 1},
            "folder": str(dev_folder / "etcd"),
            "command": ["/usr/bin/etcd", "--name=n1"],
            "started_at": 0.0,
        }
        (dev_folder / "etcd.json").write_text(json.dumps(record))
        assert [s.state for s in devserver.status(["etcd"])] == ["stale"]
        done = run_cli(dev_folder, "dev", "down", "--etcd")
        assert done.returncode == 0, done.stderr
        assert "belongs to another program" in done.stdout
        assert other.poll() is None and processes.running(other.pid)
        assert not (dev_folder / "etcd.json").exists()
    finally:
        other.kill()
        other.wait()


def test_a_taken_default_port_moves_to_a_free_one(dev_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        monkeypatch.setitem(devserver.DEFAULT_PORTS, "etcd", {"client": taken, "peer": taken})
        monkeypatch.delenv("COORDKIT_DEV_ETCD_PORT")
        server = devserver.up(["etcd"]).started[0]
        assert taken not in server.ports.values()
        assert devserver.running_url() == server.url
        with pytest.raises(devserver.DevServerError, match=f"port {taken} .* is taken"):
            devserver.up(["zookeeper"], ports={"zookeeper": taken})
    assert not (dev_folder / "zookeeper.json").exists()


def test_a_server_that_fails_to_start_is_reported_and_not_recorded(dev_folder: Path, tmp_path: Path) -> None:
    fake = tmp_path / "etcd"
    fake.write_text("#!/bin/sh\necho 'boom: this etcd cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    env = {**dev_env(dev_folder), "COORDKIT_ETCD_BIN": str(fake)}
    done = run_cli(dev_folder, "dev", "up", "--etcd", env=env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "exited with code 3" in lines[0] and "boom: this etcd cannot start" in lines[0]
    assert not (dev_folder / "etcd.json").exists()


def test_without_etcd_up_starts_zookeeper_and_says_what_it_skipped(dev_folder: Path) -> None:
    env = {**dev_env(dev_folder), "COORDKIT_ETCD_BIN": "/nonexistent/etcd"}
    done = run_cli(dev_folder, "dev", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert (
        "coordkit: etcd not started: etcd binary '/nonexistent/etcd' is not an executable file" in done.stderr
    )
    zk_url = devserver.running_url()
    assert zk_url is not None and zk_url.startswith("zk://")
    assert f"export COORDKIT_URL={zk_url}" in done.stderr  # the footer is for people: stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [["zookeeper", zk_url]]
    explicit = run_cli(dev_folder, "dev", "up", "--etcd", env=env)
    assert explicit.returncode == 1 and "cannot start etcd" in explicit.stderr


def test_two_ups_at_once_start_one_server(dev_folder: Path) -> None:
    command = [sys.executable, "-m", "coordkit_cli", "--json", "dev", "up", "--etcd"]
    procs = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dev_env(dev_folder)
        )
        for _ in range(2)
    ]
    try:
        outputs = [proc.communicate(timeout=90) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    servers = [json.loads(out)["servers"][0] for out, _ in outputs]
    assert sorted(server["started"] for server in servers) == [False, True]
    assert servers[0]["pid"] == servers[1]["pid"] and processes.running(servers[0]["pid"])
