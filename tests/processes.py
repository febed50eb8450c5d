"""Whether a process is there, for the tests that check what a run left behind.

Imported as ``processes`` (``tests/`` is on the path once ``tests/conftest.py`` is loaded).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["exists", "running"]


def exists(pid: int) -> bool:
    """Whether any process has this id, an exited one not yet reaped (a zombie) included."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
