"""The command run by ``lock``, ``elect`` and ``register -- CMD`` never outlives coordkit: when
the coordkit process is SIGKILLed, the command is killed too, so that no critical section goes
on unguarded (real processes against real ZooKeeper and etcd servers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from holding_procs import Lines

from coordkit.testing import eventually

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
    try:
        eventually(
            lambda: _gone(child), timeout=10, message=f"the command (pid {child}) to end with coordkit"
        )
    except AssertionError:
        os.kill(child, signal.SIGKILL)  # tidy up, then fail
        raise


def test_starting_the_command_runs_no_at_fork_handler(tmp_path: Path) -> None:
    """A fork of the whole coordkit process runs every at-fork handler, gRPC's among them, while
    gRPC's poller threads are live: etcd clients then aborted now and then ("epoll_wait error:
    Bad file descriptor", exit 134). The command must be started without such a fork."""
    from coordkit_cli._guarded_child import start_guarded

    forks: list[str] = []
    os.register_at_fork(before=lambda: forks.append("fork"))
    marker = tmp_path / "ran"
    proc = start_guarded([sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"], dict(os.environ))
    assert proc.wait(timeout=20) == 0 and marker.exists()
    assert forks == [], "the command was started by forking this whole process"


@pytest.mark.parametrize(
    ("program", "error"), [("no-such-command-xyz", FileNotFoundError), ("not-executable", PermissionError)]
)
def test_a_command_that_cannot_run_is_refused_before_anything_starts(
    tmp_path: Path, program: str, error: type[OSError]
) -> None:
    from coordkit_cli._guarded_child import start_guarded

    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    with pytest.raises(error):
        start_guarded([program], {"PATH": str(tmp_path)})
