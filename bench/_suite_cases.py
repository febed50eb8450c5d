"""The cases of bench/run.py on one backend, each for coordkit and for its peers, as samples.

Every measurement is one of the bench scripts' own (locks.py's raw calls, _locks_contend.py's
contenders and failover, discovery.py's cold start, cli_get.py's processes, _peers.py's peers);
this module only runs them in one order and collects every sample (seconds) as
``{case: {library: [seconds, ...]}}``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import _peers
import cli_get
import discovery
from _common import interleaved
from _locks_contend import SEMAPHORE_LIMIT, contend, failover
from _locks_raw import EtcdRaw, ZkRaw

import coordkit

BENCH = Path(__file__).resolve().parent
Samples = dict[str, dict[str, list[float]]]


@dataclasses.dataclass(frozen=True)
class Settings:
    iterations: int = 300
    warmup: int = 100
    contenders: tuple[int, ...] = (2, 16, 64)
    instances: tuple[int, ...] = (10, 1000, 10000)
    cold_runs: tuple[int, ...] = (20, 5, 3)
    changes: int = 20
    semaphore_waiters: int = 16
    failovers: int = 3
    cli_runs: int = 7
    hold: float = 0.010
    quick: bool = False

    @classmethod
    def quick_run(cls) -> Settings:
        return cls(
            iterations=15,
            warmup=3,
            contenders=(2, 4),
            instances=(10, 100),
            cold_runs=(2, 1),
            changes=3,
            semaphore_waiters=4,
            failovers=1,
            cli_runs=1,
            quick=True,
        )


def ttl_of(kind: str) -> float:
    return 2.0 if kind == "etcd" else 1.0  # 1 s: 2 x tickTime of the harness's ZooKeeper


def run_backend(
    kind: str, url: str, settings: Settings, bare_python: str | None
) -> tuple[Samples, dict[str, Any]]:
    """Every case on one backend: samples, and notes (versions, herd counts, peer errors)."""
    endpoint = url.split("://", 1)[1].split("/", 1)[0].split(",")[0]
    samples: Samples = {}
    notes: dict[str, Any] = {"errors": {}, "herd": {}, "early_discover": {}}
    _uncontended(kind, url, endpoint, settings, samples, notes)
    native = "kazoo" if kind == "zookeeper" else "python-etcd3"
    peer = _peers.KazooPeer(kind, endpoint, ttl_of(kind))
    notes["versions"] = {}
    notes["failover_peers"] = {}
    for n in settings.contenders:
        rounds, hold = _peers.rounds_for(n, settings.quick)
        found = contend(url, kind="lock", contenders=n, rounds=rounds, hold=hold)
        notes["herd"][str(n)] = found["woken_per_release"]
        samples[f"handoff, {n} contenders"] = {"coordkit": found["handoff_s"]}
        if kind == "zookeeper":
            samples[f"handoff, {n} contenders"]["kazoo"] = _peers.contend(peer, n, rounds, hold)
    waiters = settings.semaphore_waiters
    rounds, hold = _peers.rounds_for(waiters + SEMAPHORE_LIMIT, settings.quick)
    found = contend(url, kind="semaphore", contenders=waiters + SEMAPHORE_LIMIT, rounds=rounds, hold=hold)
    case = f"semaphore admission, {waiters} waiters, limit {SEMAPHORE_LIMIT}"
    samples[case] = {"coordkit": found["handoff_s"]}
    notes["semaphore_wakes"] = {
        "releases": found["releases"],
        "queue_reads": found["relists_per_release"],
        "told": found["told_per_release"],
        "limit": SEMAPHORE_LIMIT,
    }
    if kind == "zookeeper":
        samples[case]["kazoo"] = _peers.contend(
            peer, waiters + SEMAPHORE_LIMIT, rounds, hold, limit=SEMAPHORE_LIMIT
        )
    samples["election failover"] = {
        "coordkit": failover(url, ttl=ttl_of(kind), repetitions=settings.failovers)["failover_s"],
    }
    if kind == "zookeeper":
        notes["versions"]["kazoo"] = peer.version()
        samples["election failover"]["kazoo"] = _peers.failover(peer, settings.failovers)
        notes["failover_peers"]["kazoo"] = peer.failover_label
    else:  # python-etcd3 0.12's waiting acquire needs tenacity 6 (see bench/run.py)
        _venv_peer("etcd3", kind, endpoint, settings, samples, notes)
    for size, runs in zip(settings.instances, settings.cold_runs, strict=True):
        changes = settings.changes if size == settings.instances[-1] or settings.quick else 0
        weigh = size == settings.instances[-1]
        cold = discovery.cold_start(url, runs, size, changes=changes, memory=weigh)
        if weigh and discovery.last_memory:
            notes["memory"] = {"instances": size, "bytes_per_instance": discovery.last_memory[0]}
        samples[f"cache cold start, {size} instances"] = {"coordkit": cold}
        if discovery.failures:
            notes["errors"][
                f"cache cold start, {size} instances ({len(discovery.failures)} of {runs} runs)"
            ] = discovery.failures[0]
        if discovery.early_returns:
            notes["early_discover"][str(size)] = list(discovery.early_returns)
        if changes:
            samples[f"one change applied, {size} instances"] = {"coordkit": list(discovery.last_changes)}
    if bare_python:
        with tempfile.TemporaryDirectory() as tree:
            ours, theirs = cli_get.measure(
                kind, url, bare_python, settings.cli_runs, BENCH.parent, Path(tree) / "t"
            )
        samples["CLI get (process wall time)"] = {"coordkit": ours, f"bare {native} script": theirs}
    else:
        notes["errors"]["CLI get"] = "no interpreter with a bare python-etcd3/kazoo (bench/.venv)"
    _venv_peer("tooz", kind, endpoint, settings, samples, notes)
    return samples, notes


def _uncontended(
    kind: str, url: str, endpoint: str, settings: Settings, samples: Samples, notes: dict[str, Any]
) -> None:
    prefix = f"/bench-raw-{uuid.uuid4().hex[:8]}"
    raw: Any = EtcdRaw(endpoint, prefix) if kind == "etcd" else ZkRaw(endpoint, prefix)
    client = coordkit.connect(f"{url}/bench-{uuid.uuid4().hex[:8]}")
    lock = client.lock("uncontended")

    def coordkit_cycle() -> None:
        assert lock.acquire(timeout=5)
        lock.release()

    try:
        found = interleaved(
            {
                "R": raw.read,
                "W": raw.write,
                "floor": raw.floor,
                "coordkit": coordkit_cycle,
                "native": raw.native_cycle,
            },
            settings.iterations,
            warmup=settings.warmup,
        )
    finally:
        client.close()
        raw.close()
    native = "kazoo" if kind == "zookeeper" else "python-etcd3"
    samples["R (read round trip)"] = {"bare client": found["R"]}
    samples["W (write round trip)"] = {"bare client": found["W"]}
    samples["uncontended acquire+release"] = {
        "protocol floor": found["floor"],
        "coordkit": found["coordkit"],
        native: found["native"],
    }


def _venv_peer(
    name: str, kind: str, endpoint: str, settings: Settings, samples: Samples, notes: dict[str, Any]
) -> None:
    """A peer run by _peers.py in the suite's own virtualenv; a failure is noted, not raised.
    tooz's uncontended figure is its own; python-etcd3's is the interleaved one above."""
    python = BENCH / ".venv" / "bin" / "python"
    if not python.exists():
        notes["errors"][name] = "bench/.venv was not created (bench/run.py creates it unless --no-setup)"
        return
    command = [str(python), str(BENCH / "_peers.py"), name, kind, endpoint, "--ttl", str(ttl_of(kind))]
    command += ["--sizes", ",".join(map(str, settings.contenders))] + (["--quick"] if settings.quick else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=400, check=False)
    except subprocess.TimeoutExpired:
        notes["errors"][name] = "did not finish within 400 s"
        return
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        fatal = [line for line in lines if line.startswith("Fatal Python error")]
        notes["errors"][name] = (fatal or lines or [f"exit status {done.returncode}"])[-1]
        return
    found = json.loads(done.stdout)
    notes["versions"][name] = found["version"]
    name = "python-etcd3" if name == "etcd3" else name
    if name == "tooz":
        samples["uncontended acquire+release"][name] = found["uncontended_s"]
    for n, handoffs in found["handoff_s"].items():
        samples[f"handoff, {n} contenders"][name] = handoffs
    samples["election failover"][name] = found["failover_s"]
    notes["failover_peers"][name] = found["failover_label"]
