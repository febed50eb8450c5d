"""Helpers for the ``coordkit dev`` tests: CLI subprocesses on a dev folder, and process checks.

Servers are asked for on any free port (COORDKIT_DEV_*_PORT=0), since the default ports may be in
use by a developer's own dev server or by another test run on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import processes
import pytest

import coordkit
from coordkit import dev as devserver
from coordkit.testing import eventually


def dev_env(folder: Path) -> dict[str, str]:
    """The environment of a CLI subprocess: this dev folder, free ports, no URL."""
    env = {key: value for key, value in os.environ.items() if key not in ("COORDKIT_URL", "COORDKIT_DEBUG")}
    env.update(COORDKIT_DEV_DIR=str(folder), COORDKIT_DEV_ETCD_PORT="0", COORDKIT_DEV_ZOOKEEPER_PORT="0")
    return env


def run_cli(
    folder: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``coordkit ARGS...`` as a real subprocess on ``folder`` (bounded: a hang fails the test)."""
    return subprocess.run(
        [sys.executable, "-m", "coordkit_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or dev_env(folder),
        check=False,
    )


def wait_gone(pid: int, timeout: float = 15) -> None:
    """Until ``pid`` has exited; AssertionError after ``timeout`` seconds."""
    eventually(
        lambda: not processes.running(pid), timeout=timeout, interval=0.05, message=f"pid {pid} to exit"
    )


def processes_in(folder: Path) -> list[int]:
    """Pids whose command line names ``folder``: every server started there, whatever its records say."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline:
            found.append(int(entry.name))
    return found


def stop_everything(folder: Path) -> None:
    """Stop whatever runs from ``folder``: first as a user would, then by pid if that left any.

    Raises AssertionError after the fact when `down` left a process, so that a leak fails loudly.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COORDKIT_DEV_DIR", str(folder))
        try:
            devserver.down(stop_timeout=5)
        finally:
            leftovers = processes_in(folder)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            for pid in leftovers:
                wait_gone(pid)  # SIGKILLed: it cannot outlive this, unless the kernel is stuck
    assert not leftovers, f"processes left running in {folder}: {leftovers}"


def value_of(client: coordkit.Client, key: str) -> bytes | None:
    entry = client.get(key)
    return entry.value if entry is not None else None
