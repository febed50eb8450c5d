"""The operator's commands on every backend: ``status --check``, ``maint``, ``lock -n``,
``completion`` (in process, through Click's runner), and ``watch --exec`` (a real process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from ops_helpers import eventually

import coordkit
from coordkit_cli.main import cli
from coordkit_cli.status_checks import cluster_checks

DEADLINE = 20.0
MakeClient = Callable[..., coordkit.Client]


@pytest.fixture
def run(store_url: str) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli, ["--url", store_url, *args], catch_exceptions=False)

    return invoke


def test_status_check_passes_on_a_healthy_single_member(run: Callable[..., Result]) -> None:
    result = run("status", "--check")
    assert result.exit_code == 0, result.output
    last = result.output.splitlines()[-1]
    assert last.startswith("coordkit status: OK (")
    report = json.loads(run("--json", "status", "--check").output)
    assert report["verdict"].startswith("coordkit status: OK") and report["healthy"]
    checks = {c["name"]: c for c in report["checks"]}
    assert not checks["versions"]["problem"] and not checks["lag"]["problem"]
    if report["kind"] != "memory":  # a real server tells its version and log position
        assert checks["lag"]["result"] == "max 0 entries behind (of 1 members)"
        assert checks["versions"]["result"].startswith("all 1 on ")
    plain = run("status")
    assert plain.exit_code == 0 and "coordkit status:" not in plain.output  # plain status as before


def test_status_checks_find_mixed_versions_and_lag() -> None:
    info = coordkit.ServerInfo(
        "etcd",
        ["a", "b", "c"],
        versions={"a": "3.5.1", "b": "3.5.1", "c": "3.4.23"},
        positions={"a": 5000, "b": 4990, "c": 2000},
    )
    versions, lag = cluster_checks(info, max_lag=1000)
    assert "members run different versions" in versions["problem"] and "c 3.4.23" in versions["problem"]
    assert lag["problem"] == "c is 3000 entries behind (more than --max-lag 1000)"
    assert not cluster_checks(info, max_lag=3000)[1]["problem"]


def test_maint_drains_and_returns_an_instance_of_another_process(
    run: Callable[..., Result], make_client: MakeClient
) -> None:
    owner, reader = make_client(), make_client()
    reg = owner.register("api", "127.0.0.1", 8001, id="a")
    result = run("maint", "api", "a", "--enable", "--reason", "kernel upgrade")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "api/a 127.0.0.1:8001 in maintenance (kernel upgrade)"
    [seen] = reader.instances("api")
    assert (seen.status, seen.status_reason) == ("draining", "kernel upgrade")
    with reader.discover("api") as cache:
        assert cache.instances == ()  # out of traffic
        reg.update(weight=2)  # the owner's own change keeps the operator's status
        [seen] = reader.instances("api")
        assert (seen.weight, seen.status) == (2, "draining")
        assert run("maint", "api", "a", "--disable").exit_code == 0
        assert cache.wait_for(lambda found: [i.id for i in found] == ["a"], DEADLINE)
    # Still the owner's key: it goes with the owner's session.
    owner.close()
    eventually(lambda: reader.instances("api") == [], "the key gone with its owner's session", DEADLINE)


def test_maint_refuses_what_it_cannot_do(run: Callable[..., Result]) -> None:
    missing = run("maint", "api", "nobody", "--enable")
    assert missing.exit_code == 1 and "has no instance nobody" in missing.output
    assert run("maint", "api", "a").exit_code == 2  # neither --enable nor --disable


def test_lock_n_is_a_semaphore_around_a_command(
    run: Callable[..., Result], make_client: MakeClient, tmp_path: Path
) -> None:
    other = make_client()
    name = "jobs/render"
    said = tmp_path / "limit"
    write = f"import os, pathlib; pathlib.Path({str(said)!r}).write_text(os.environ['COORDKIT_LOCK_LIMIT'])"
    result = run("lock", "-n", "2", name, "--", sys.executable, "-c", write)
    assert result.exit_code == 0, result.output
    assert said.read_text() == "2"
    first, second = other.semaphore(name, 2), other.semaphore(name, 2)
    assert first.acquire(timeout=DEADLINE) and second.acquire(timeout=DEADLINE)
    full = run("lock", "-n", "2", "--wait", "0.3", name, "--", "true")
    assert full.exit_code == 6 and "semaphore jobs/render (limit 2) not acquired" in full.output
    second.release()
    assert run("lock", "-n", "2", "--wait", "10", name, "--", "true").exit_code == 0
    first.release()


def test_completion_prints_clicks_script() -> None:
    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(cli, ["completion", shell])
        assert result.exit_code == 0 and "_COORDKIT_COMPLETE" in result.output
    assert CliRunner().invoke(cli, ["completion", "tcsh"]).exit_code == 2


HANDLER = """
import json, os, sys
event = json.loads(sys.stdin.read())
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"env": [os.environ[k] for k in ("COORDKIT_WATCH_TYPE", "COORDKIT_WATCH_KEY")],
                          "stdin": event}) + "\\n")
sys.exit(int(sys.argv[2]))
"""


@pytest.fixture(params=["etcd", "zookeeper"])
def server_url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue(f"{request.param}_server")
    return f"{server.url}/ck-{uuid.uuid4().hex[:12]}"


def _watch(url: str, exec_line: str, *more: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "COORDKIT_URL"}
    return subprocess.Popen(
        [sys.executable, "-m", "coordkit_cli", "--url", url, "watch", "-r", "/w", "--exec", exec_line, *more],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_watch_exec_runs_a_handler_per_change_in_order(server_url: str, tmp_path: Path) -> None:
    log, script = tmp_path / "events.jsonl", tmp_path / "handler.py"
    script.write_text(HANDLER)
    process = _watch(server_url, f"{sys.executable} {script} {log} 0")
    try:
        with coordkit.connect(server_url) as client:

            def started() -> bool:  # the watch is in place once a change reaches the handler
                assert process.poll() is None, process.communicate()
                client.put("/w/probe", "p")
                return log.exists() and log.read_text() != ""

            eventually(started, "the watch and its handler running", DEADLINE)

            def runs() -> list[dict[str, Any]]:  # but for the probes of the start
                every = [json.loads(line) for line in log.read_text().splitlines()]
                return [r for r in every if r["env"][1] != "/w/probe"]

            def ran(count: int) -> Callable[[], bool]:
                def check() -> bool:  # a failure shows the runs that did arrive
                    assert len(runs()) >= count, runs()
                    return True

                return check

            for k in range(3):  # quicker than the runs: they wait their turn
                client.put(f"/w/k{k}", f"v{k}")
            # Deleted only once its PUT has run: a ZooKeeper watch that reads /w/k0 after the
            # delete (a loaded machine) could deliver only the DELETE (its value is gone).
            eventually(ran(1), "the first run", DEADLINE)
            client.delete("/w/k0")
            eventually(ran(4), "four runs", DEADLINE)
        seen = runs()
        assert [r["env"] for r in seen] == [
            ["put", "/w/k0"],
            ["put", "/w/k1"],
            ["put", "/w/k2"],
            ["delete", "/w/k0"],
        ]
        assert [r["stdin"].get("value") for r in seen] == ["v0", "v1", "v2", None]
        process.send_signal(signal.SIGTERM)
        assert process.wait(DEADLINE) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_watch_exec_stops_with_a_failing_handlers_status(server_url: str, tmp_path: Path) -> None:
    log, script = tmp_path / "events.jsonl", tmp_path / "handler.py"
    script.write_text(HANDLER)
    process = _watch(server_url, f"{sys.executable} {script} {log} 3", "--on-failure", "stop")
    try:
        with coordkit.connect(server_url) as client:

            def stopped() -> bool:
                if process.poll() is None:
                    client.put("/w/probe", "p")  # until the watch is in place and the handler fails
                return process.poll() is not None

            eventually(stopped, "the watch stopped by the failing handler", DEADLINE)
        _, err = process.communicate()
        assert process.returncode == 3, err
        assert "--exec handler exited 3 for PUT /w/probe" in err
        assert len(log.read_text().splitlines()) == 1  # stopped after the first failure
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    missing = _watch(server_url, "/nonexistent/handler")
    try:
        with coordkit.connect(server_url) as client:

            def ended() -> bool:
                if missing.poll() is None:
                    client.put("/w/probe", "p")
                return missing.poll() is not None

            eventually(ended, "the watch ended by a handler that cannot run", DEADLINE)
        assert missing.returncode == 127
    finally:
        if missing.poll() is None:
            missing.kill()
            missing.wait(10)


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_status_check_on_a_three_member_cluster(kind: str, request: pytest.FixtureRequest) -> None:
    cluster = request.getfixturevalue("zookeeper_ensemble" if kind == "zookeeper" else "etcd_cluster")
    with coordkit.connect(cluster.url) as client:
        for k in range(20):
            client.put(f"/load/{k}", "x")  # some log for the members to agree on
    result = CliRunner().invoke(
        cli, ["--url", cluster.url, "--json", "status", "--check"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["lag"]["result"].endswith("(of 3 members)") and not checks["lag"]["problem"]
    assert checks["versions"]["result"].startswith("all 3 on ")
