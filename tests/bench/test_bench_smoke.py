"""Smoke test of the lock benchmark (bench/locks.py): a ``--quick`` run on the shared real
servers produces every figure, in JSON and in the table.

Not a timed assertion: the figures depend on the machine. What is asserted is structural:
every figure was measured (finite, positive), the herd check counted exactly one woken
waiter per release (a count, not a time), and the failover waited for the killed leader's
session to expire rather than seeing a graceful exit.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from bench_scripts import STOP_WAIT, run_script

# The script's budget, its stop, and the shared servers' start (in the first test's setup).
pytestmark = pytest.mark.timeout(150 + STOP_WAIT + 60)

BENCH = Path(__file__).resolve().parents[2] / "bench" / "locks.py"
KINDS = ("etcd", "zookeeper")
TIMES = ("R_ms", "W_ms", "floor_ms", "coordkit_ms", "native_ms", "handoff_floor_ms", "handoff_bound_ms")
RATIOS = ("W_over_R", "floor_over_R", "coordkit_over_floor", "native_over_floor")
TARGETS = {
    "uncontended_within_1.2x_floor",
    "faster_than_native",
    "no_herd",
    "lock_handoff_within_W_2R",
    "resign_handoff_within_W_2R",
    "failover_within_TTL_W_2R",
    "failover_within_server_bound",
}


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def report(etcd_server: Any, zookeeper_server: Any) -> dict[str, Any]:
    command = [
        sys.executable,
        str(BENCH),
        "--quick",
        "--json",
        "--etcd",
        etcd_server.endpoints[0],
        "--zookeeper",
        zookeeper_server.endpoints[0],
    ]
    done = run_script(command, timeout=150)
    assert done.returncode == 0, done.stderr[-4000:]
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coordkit_bench_locks", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", KINDS)
def test_every_uncontended_figure_is_measured(report: dict[str, Any], kind: str) -> None:
    result = report["backends"][kind]
    for name in TIMES + RATIOS:
        assert _positive(result[name]), (name, result[name])
    assert result["native"] == ("python-etcd3 Lock" if kind == "etcd" else "kazoo Lock")
    assert result["handoff_bound_ms"] == pytest.approx(result["W_ms"] + 2 * result["R_ms"])
    assert set(result["targets"]) == TARGETS
    assert all(isinstance(met, bool) for met in result["targets"].values())


@pytest.mark.parametrize("kind", KINDS)
def test_each_release_woke_exactly_one_waiter(report: dict[str, Any], kind: str) -> None:
    settings = report["settings"]
    for section, contenders, rounds in (
        ("lock_contention", settings["contenders"], settings["rounds"]),
        ("election_handoff", settings["candidates"], settings["election_rounds"]),
    ):
        found = report["backends"][kind][section]
        assert found["contenders"] == contenders
        assert found["releases"] == contenders * rounds - 1  # every hold but the last handed off
        # Every release that a waiter awaited woke exactly one; one whose successor asked after
        # it (a re-join late on a loaded machine) had nobody to wake. Most releases are awaited.
        awaited = found["releases"] - found["uncontended_releases"]
        assert found["woken_per_release"] == {"1": awaited}, found
        assert awaited > found["releases"] // 2, found
        assert found["spurious_wakes"] == 0
        assert found["no_herd"] is True
        assert found["handoffs"] > 0 and _positive(found["handoff_ms"])


@pytest.mark.parametrize("kind", KINDS)
def test_failover_waited_for_the_killed_leaders_session(report: dict[str, Any], kind: str) -> None:
    found = report["backends"][kind]["failover"]
    assert len(found["failover_s"]) == report["settings"]["failovers"]
    # A lease or session refreshed every TTL/3 outlives its process by about 2/3 TTL (less when
    # load delayed the last refresh before the kill, hence 0.25 TTL); a leader that had resigned
    # on its way out would be replaced within milliseconds.
    assert all(found["ttl_s"] * 0.25 < took < found["ttl_s"] + 5 for took in found["failover_s"])
    assert found["bound_s"] > found["ttl_s"]
    assert found["server_bound_s"] == pytest.approx(found["bound_s"] + found["expiry_step_s"])


def test_the_table_shows_every_figure(report: dict[str, Any], bench: ModuleType) -> None:
    table = bench.render(report)
    for kind in KINDS:
        result = report["backends"][kind]
        assert f"{kind}  ({result['url']}" in table
        for name in TIMES[:-1]:
            assert f"{result[name]:.3f}" in table, name
        assert f"{result['lock_contention']['handoff_ms']:.3f}" in table
        assert f"{result['election_handoff']['handoff_ms']:.3f}" in table
        assert f"{result['failover']['failover_s'][0]:.3f}" in table
    for label in (
        "R  read round trip",
        "W  plain write",
        "floor: acquire+release, bare calls",
        "coordkit Lock acquire+release",
        "python-etcd3 Lock acquire+release",
        "kazoo Lock acquire+release",
        "floor: handoff, bare calls",
        "lock handoff, ",
        "election resign handoff",
        "herd check:",
        "failover after SIGKILL",
    ):
        assert label in table, label
    assert table.count("herd check:") == len(KINDS)
