"""A benchmark script stopped with SIGTERM (what ``bench_scripts.run_script`` sends when a run takes
too long) stops the servers it started before it exits, instead of leaving them to take the
machine's cores for the rest of the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import processes
import pytest

from coordkit.testing import eventually

# bench/connect_failures.py starts both servers itself, in its own process.
pytestmark = [pytest.mark.etcd, pytest.mark.zookeeper]

BENCH = Path(__file__).resolve().parents[2] / "bench" / "connect_failures.py"


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def test_sigterm_stops_the_servers_a_script_started() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(BENCH), "--runs", "1000", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    servers: set[int] = set()
    try:
        # Both servers up: the script's two children (ZooKeeper's JVM, etcd).
        eventually(lambda: len(_children(proc.pid)) >= 2, timeout=60)
        servers = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
        assert not [pid for pid in servers if processes.exists(pid)]  # waited for, so no zombie is left
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in servers:
            if processes.exists(pid):
                os.kill(pid, signal.SIGKILL)
