"""The benchmark suite (bench/run.py) works: a ``--quick`` run starts its own servers, runs
every case for coordkit and for every peer, and writes the table, the JSON and the plots.

Structural assertions only (what was measured, and that the files are there), never timings.
The suite's own virtualenv (bench/.venv, tooz and python-etcd3 with the pins they need) is
created by the run if missing; a peer that cannot run makes this test fail, not skip.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest
from bench_scripts import STOP_WAIT, run_script

SCRIPT_BUDGET = 600  # about 30 s once bench/.venv exists; its first creation runs pip

# bench/run.py starts its own servers. Its budget (below) is the module's, not pytest's 180 s.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper, pytest.mark.timeout(SCRIPT_BUDGET + STOP_WAIT + 30)]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "run.py"
KINDS = ("etcd", "zookeeper")
CONTENDERS = (2, 4)  # the quick run's (2/16/64 in a full run)
INSTANCES = (10, 100)  # the quick run's (10/1,000/10,000 in a full run)
NATIVE = {"etcd": "python-etcd3", "zookeeper": "kazoo"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench-suite")
    done = run_script([sys.executable, str(BENCH), "--quick", "--out", str(out)], timeout=SCRIPT_BUDGET)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def report(results: Path) -> dict[str, Any]:
    return dict(json.loads((results / "results.json").read_text()))


def _cases(kind: str) -> dict[str, set[str]]:
    native = NATIVE[kind]
    cases = {
        "R (read round trip)": {"bare client"},
        "W (write round trip)": {"bare client"},
        "uncontended acquire+release": {"protocol floor", "coordkit", native, "tooz"},
        "election failover": {"coordkit", native, "tooz"},
        "CLI get (process wall time)": {"coordkit", f"bare {native} script"},
    }
    cases["semaphore admission, 4 waiters, limit 2"] = {"coordkit"} | (
        {"kazoo"} if kind == "zookeeper" else set()
    )
    for n in CONTENDERS:
        cases[f"handoff, {n} contenders"] = {"coordkit", native, "tooz"}
    for n in INSTANCES:
        cases[f"cache cold start, {n} instances"] = {"coordkit"}
        cases[f"one change applied, {n} instances"] = {"coordkit"}
    return cases


@pytest.mark.parametrize("kind", KINDS)
def test_every_case_ran_for_coordkit_and_every_peer(report: dict[str, Any], kind: str) -> None:
    found = report["backends"][kind]
    assert found["notes"]["errors"] == {}
    measured = {case: set(libraries) for case, libraries in found["samples_s"].items()}
    assert measured == _cases(kind)
    for case, libraries in found["samples_s"].items():
        for library, samples in libraries.items():
            assert samples and all(math.isfinite(s) and s > 0 for s in samples), (case, library)


@pytest.mark.parametrize("kind", KINDS)
def test_the_summary_has_p50_p99_in_microseconds_and_in_r_and_w(report: dict[str, Any], kind: str) -> None:
    rows = report["backends"][kind]["summary"]
    assert {(row["case"], row["library"]) for row in rows} == {
        (case, library) for case, libraries in _cases(kind).items() for library in libraries
    }
    for row in rows:
        for name in ("p50_us", "p99_us", "p50_R", "p50_W", "p99_R", "p99_W"):
            assert math.isfinite(row[name]) and row[name] > 0, (row, name)
        assert row["p99_us"] >= row["p50_us"]
    r_row = next(row for row in rows if row["case"] == "R (read round trip)")
    assert r_row["p50_R"] == pytest.approx(1.0)


def test_the_markdown_table_names_every_case_peer_and_the_machine(
    results: Path, report: dict[str, Any]
) -> None:
    page = (results / "results.md").read_text()
    for kind in KINDS:
        assert f"## {kind}" in page
        for case, libraries in _cases(kind).items():
            for library in libraries:
                assert f"| {case} | {library} |" in page, (kind, case, library)
    machine = report["machine"]
    assert f"{machine['cpus']} CPUs ({machine['cpu_model']})" in page
    assert f"Python {machine['python']}" in page
    assert "etcd 3." in page and "zookeeper 3." in page
    assert "tooz" in page and "python-etcd3" in page and "kazoo" in page
    assert page.count("- coordkit semaphore: ") == len(KINDS)


def test_the_plots_are_written(results: Path) -> None:
    for kind in KINDS:
        for name in (f"distributions-{kind}.png", f"load-{kind}.png"):
            data = (results / name).read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n"), name
            assert f"({name})" in (results / "results.md").read_text()
