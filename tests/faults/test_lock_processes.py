"""Mutual exclusion between separate processes on real servers.

Each process increments a shared counter with a non-atomic read-modify-write under the
lock; a lost update (two holders at once) would leave the counter short.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

import coordkit

WORKER = r"""
import sys, coordkit
url, rounds = sys.argv[1], int(sys.argv[2])
with coordkit.connect(url, ttl=10) as client:
    lock = client.lock("counter-lock")
    for _ in range(rounds):
        with lock:
            value = int(client.get_text("/counter") or "0")
            client.put("/counter", str(value + 1), fence=lock)
print("done")
"""


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_processes_never_hold_the_lock_together(request: pytest.FixtureRequest, kind: str) -> None:
    server = request.getfixturevalue(f"{kind}_server")
    url = f"{server.url}/procs-{uuid.uuid4().hex[:8]}"
    workers, rounds = 4, 8
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(rounds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(workers)
    ]
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            assert out.strip() == b"done"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with coordkit.connect(url) as client:
        assert client.get_text("/counter") == str(workers * rounds)
