"""Starting the command that ``lock``, ``elect`` and ``register`` run, so that it never
outlives coordkit.

The command runs only while coordkit guards it (holds the lock, leads, keeps the instance
registered). If coordkit is SIGKILLed (or crashes) nothing would stop the command, and a
critical section would go on unguarded. On Linux the child therefore asks the kernel, before
it execs the command, for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``): no
grace, because nothing guards it any more. SIGKILL rather than SIGTERM since a command may
ignore SIGTERM, and the lock it thinks it holds expires one TTL later.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["start_guarded"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _linux_prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, resolved in the parent: the forked child must not load anything."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl  # type: ignore[no-any-return]


def _dies_with(parent: int, prctl: Callable[..., int]) -> Callable[[], None]:
    """What the forked child runs before exec: SIGKILL when ``parent`` dies."""

    def in_child() -> None:
        if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        # The parent may have died between fork and prctl: then no signal will ever come,
        # and the child (now adopted by another process) must not run the command at all.
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def start_guarded(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` with ``env`` as its whole environment, killed by the kernel if this
    process dies first (Linux; elsewhere it is started plainly).

    Must be called from the thread that lives as long as the process (the main thread): the
    kernel sends the signal when the *thread* that forked the child ends. Raises what
    :class:`subprocess.Popen` raises (FileNotFoundError, PermissionError, ...).
    """
    prctl = _linux_prctl()
    preexec = _dies_with(os.getpid(), prctl) if prctl is not None else None
    return subprocess.Popen(list(command), env=dict(env), preexec_fn=preexec)  # noqa: PLW1509 - see _dies_with
