"""Smoke test of bench/zk_watch_latency.py: a ``--quick`` run on real servers measures every
figure, the bare clients' config floor included. Structural only (finite, positive): the
figures depend on the machine, and the benchmark is where they are read."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from bench_scripts import STOP_WAIT, run_script

# bench/zk_watch_latency.py starts both servers itself, in its own process.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper, pytest.mark.timeout(180 + STOP_WAIT + 30)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "zk_watch_latency.py"


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_a_quick_run_measures_every_figure_and_the_bare_floor() -> None:
    done = run_script([sys.executable, str(BENCH), "--quick", "--json"], timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout)
    for kind in ("zookeeper", "etcd"):
        assert set(results[f"rt-{kind}"]) == {"R_ms", "W_ms", "bare_config_ms"}
        assert all(_positive(v) for v in results[f"rt-{kind}"].values()), results[f"rt-{kind}"]
    for mode in ("zk-oneshot", "zk-persistent", "etcd"):
        assert set(results[mode]) == {"visible_ms", "config_ms", "cold_1000_ms"}
        assert all(_positive(v) for v in results[mode].values()), results[mode]
    # The floor is a write, then the other process's sight of it and its read: never under a
    # read round trip (a write's time, measured in another phase, varies with the disk).
    assert results["rt-zookeeper"]["bare_config_ms"] > results["rt-zookeeper"]["R_ms"]
