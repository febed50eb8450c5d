"""Smoke test of bench/connect_failures.py: one run of every case on real servers, each ending in
its own reason. Structural only (no timed assertion: tests/conformance/test_connect_failures.py
bounds the latency)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bench_scripts import STOP_WAIT, run_script

# bench/connect_failures.py starts both servers itself, in its own process.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper, pytest.mark.timeout(180 + STOP_WAIT + 30)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "connect_failures.py"


def test_every_case_fails_with_its_own_reason() -> None:
    done = run_script([sys.executable, str(BENCH), "--runs", "1", "--json"], timeout=180)
    assert done.returncode == 0, done.stderr[-4000:]
    cases = json.loads(done.stdout)["cases"]
    assert len(cases) == 6
    assert {case["error"] for case in cases} == {"BackendUnavailableError"}
    reasons = [case["reason"] for case in cases]
    assert len(set(reasons)) == 6, reasons
    assert sum("refused" in r for r in reasons) == 2 and sum("does not resolve" in r for r in reasons) == 2
    assert "that is an etcd server" in reasons[2] and "that is a ZooKeeper server" in reasons[5]
