#!/usr/bin/env python3
"""coordkit's benchmark suite: every case for coordkit and its peers, on the same servers, in one run.

    python bench/run.py [--quick] [--out DIR] [--backends etcd,zookeeper] [--no-setup]

Starts one local etcd and one local ZooKeeper (coordkit.testing; stopped at the end), measures R
(a read round trip) and W (a write round trip) per backend, then per backend: uncontended
acquire + release (the protocol floor, coordkit, kazoo / python-etcd3, tooz), contended
handoffs with 2/16/64 contenders, election failover after a SIGKILL, a discovery cache's cold
start with 10/1,000/10,000 instances and one change applied, and ``coordkit get`` against a
bare kazoo / python-etcd3 script. Writes results.md, results.json and PNG plots to
``bench/results/<date>/`` (or ``--out``).

tooz (zookeeper and etcd3gw drivers) and the bare python-etcd3 of the CLI case (protobuf
3.20, which python-etcd3 0.12 needs) run in the suite's own virtualenv ``bench/.venv``, which
this creates with pip unless ``--no-setup``; what cannot run is named in the results.
``--quick`` runs every case and peer with a few samples (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this script
import _suite_report
from _common import local_servers
from _suite_cases import BENCH, Settings, run_backend

import coordkit
from coordkit.testing import install_sigterm_exit

PEER_VENV = BENCH / ".venv"
# python-etcd3 0.12 imports only with protobuf 3.20, and its waiting Lock.acquire() passes
# tenacity a wait callback of the old signature, which tenacity 7+ no longer calls (TypeError).
PEER_PACKAGES = ("tooz", "etcd3gw", "kazoo", "etcd3", "protobuf<3.21", "tenacity==6.3.1")


def setup_peers() -> str | None:
    """Create bench/.venv with the peers; None when it works, else why not."""
    python = PEER_VENV / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import tooz.drivers.zookeeper, tooz.drivers.etcd3gw, etcd3, kazoo, importlib.metadata as m;"
        "assert m.version('tenacity') == '6.3.1'",
    ]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return None
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True, capture_output=True)
        pip = [str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES]
        done = subprocess.run(pip, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"could not create {PEER_VENV}: {exc}"
    if done.returncode != 0:
        return f"pip install {' '.join(PEER_PACKAGES)} failed: {done.stderr.strip().splitlines()[-1:]}"
    return None


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": _load(),
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def server_version(url: str) -> str:
    try:
        with coordkit.connect(url, session=False) as client:
            info = client.server_info()
        return f"{info.kind} {info.version}".strip()
    except coordkit.CoordkitError as exc:  # a label only
        return f"version unknown ({exc})"


def main(argv: list[str] | None = None) -> int:
    install_sigterm_exit()  # a run stopped by a timeout still stops the servers it started
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every case with a few samples (smoke test)")
    parser.add_argument("--out", type=Path, help="directory for the results (default bench/results/<date>)")
    parser.add_argument("--backends", default="etcd,zookeeper", help="comma-separated: etcd, zookeeper")
    parser.add_argument(
        "--no-setup", action="store_true", help="do not create bench/.venv (tooz and bare CLI)"
    )
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.backends.split(",") if k.strip()]
    if not kinds or set(kinds) - {"etcd", "zookeeper"}:
        parser.error(f"--backends takes etcd and/or zookeeper, not {args.backends!r}")
    settings = Settings.quick_run() if args.quick else Settings()
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    out = args.out or BENCH / "results" / date
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    report: dict[str, Any] = {
        "date": date,
        "quick": args.quick,
        "machine": machine(),
        "servers": {},
        "backends": {},
    }
    why_not = "skipped (--no-setup)" if args.no_setup else setup_peers()
    bare_python = None if why_not else str(PEER_VENV / "bin" / "python")
    samples = {}
    with local_servers(kinds, given={}) as urls:
        for kind in kinds:
            report["servers"][kind] = server_version(urls[kind])
            print(f"{kind}: measuring ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            found, notes = run_backend(kind, urls[kind], settings, bare_python)
            if why_not:
                notes["errors"]["tooz"] = why_not
            samples[kind] = found
            report["backends"][kind] = {
                "summary": _suite_report.summary(found),
                "notes": notes,
                "samples_s": found,
            }
    report["seconds"] = time.monotonic() - started
    report["machine"]["load_after"] = _load()
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "results.md").write_text(_suite_report.markdown(report, command))
    _suite_report.plots(report, samples, out)
    print(f"wrote {out} in {report['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
