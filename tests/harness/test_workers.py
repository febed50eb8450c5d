"""Fault-test workers do not outlive the test process that started them, however it ends."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

RUNNER = textwrap.dedent("""
    import sys
    from coordkit.testing import Workers
    workers = Workers(sys.argv[1])
    worker = workers.start("w", "watch", "memory://orphan", res="/w")
    worker.wait_for("watching", 30)
    if sys.argv[2] == "paused":
        worker.pause()
    print(worker.proc.pid, flush=True)
    sys.stdin.read()  # until the test kills this process
""")


def _exits_within(pid: int, timeout: float) -> bool:
    """True if process ``pid`` (not a child of ours) ends within ``timeout`` seconds."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_worker_stops_when_the_test_process_is_killed(tmp_path: Path, state: str) -> None:
    """SIGKILL of the test process (a CI job killed, pytest-timeout's thread method, which
    calls os._exit) runs no cleanup; the worker, even one left SIGSTOPped, exits by itself."""
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(tmp_path), state],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert runner.stdout is not None
        pid = int(runner.stdout.readline())
    finally:
        runner.kill()
        runner.wait(10)
    try:
        assert _exits_within(pid, 15), f"worker {pid} outlived the process that started it"
    finally:
        with contextlib.suppress(ProcessLookupError):  # no process left behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
