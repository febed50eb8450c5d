"""The command run by ``lock``, ``elect`` and ``register -- CMD`` never outlives coordkit: when
the coordkit process is SIGKILLed, the command is killed too, so that no critical section goes
on unguarded (real processes against real ZooKeeper and etcd servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from holding_procs import Lines

Start = Callable[..., subprocess.Popen[bytes]]

# Prints its pid, then would run for a minute: long past every deadline below.
_CHILD = "import os, time; print(os.getpid(), flush=True); time.sleep(60)"
_COMMANDS = {
    "lock": ["lock", "/guarded"],
    "elect": ["elect", "/guarded", "me"],
    "register": ["register", "guarded", "127.0.0.1:8080"],
}


def _gone(pid: int) -> bool:
    """True once ``pid`` no longer runs: no such process, or a zombie nobody reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_the_command_dies_with_a_killed_coordkit(server_url: str, cli_process: Start, command: str) -> None:
    coordkit_proc = cli_process("--url", server_url, *_COMMANDS[command], "--", sys.executable, "-c", _CHILD)
    child = int(Lines(coordkit_proc).next(timeout=20))
    assert not _gone(child)
    coordkit_proc.kill()  # SIGKILL: coordkit gets no chance to stop the command itself
    assert coordkit_proc.wait(timeout=10) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while not _gone(child):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)  # tidy up, then fail
            pytest.fail(f"the command (pid {child}) still runs 10 s after coordkit was SIGKILLed")
        time.sleep(0.05)
