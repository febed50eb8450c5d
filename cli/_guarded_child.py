"""Starting the command that ``lock``, ``elect`` and ``register`` run, so that it never
outlives coordkit.

The command runs only while coordkit guards it (holds the lock, leads, keeps the instance
registered). If coordkit is SIGKILLed (or crashes) nothing would stop the command, and a
critical section would go on unguarded. On Linux the command is therefore started through a
tiny launcher that asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), then execs the command, which keeps that setting: no grace,
because nothing guards it any more. SIGKILL rather than SIGTERM since a command may ignore
SIGTERM, and the lock it thinks it holds expires one TTL later.

Why a launcher rather than ``preexec_fn``: ``preexec_fn`` makes :mod:`subprocess` fork the
whole coordkit process, which runs every at-fork handler, gRPC's among them, while gRPC's
poller threads are live; etcd clients then died now and then with "epoll_wait error: Bad file
descriptor" (SIGABRT). Without ``preexec_fn`` subprocess spawns with vfork/posix_spawn, which
runs no handlers, and the launcher costs one small interpreter start (``-I -S``: no site, no
environment).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence

from .exit_codes import ExitCode

__all__ = ["start_guarded"]

# argv: PARENT_PID PROGRAM ARG0 ARGS...; exits 127/126 as a shell does if the exec fails. It runs
# in its own bare interpreter (-I -S), so the codes are written into its text rather than imported.
_LAUNCHER = f"""\
import ctypes, os, signal, sys
parent, program, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
    sys.stderr.write("coordkit: prctl(PR_SET_PDEATHSIG) failed: " + os.strerror(ctypes.get_errno()) + "\\n")
    os._exit({ExitCode.CANNOT_RUN.value})
# The parent may have died before prctl: then no signal will ever come, and the command must
# not run at all (this process has been adopted by another).
if os.getppid() != parent:
    os.kill(os.getpid(), signal.SIGKILL)
try:
    os.execv(program, argv)
except OSError as exc:
    sys.stderr.write("coordkit: cannot run " + argv[0] + ": " + (exc.strerror or str(exc)) + "\\n")
    not_found = isinstance(exc, FileNotFoundError)
    os._exit({ExitCode.COMMAND_NOT_FOUND.value} if not_found else {ExitCode.CANNOT_RUN.value})
"""


def _resolve(program: str, env: Mapping[str, str]) -> str:
    """The file ``program`` names, found as ``execvp`` would (on the command's PATH).

    Raises FileNotFoundError or PermissionError, as :class:`subprocess.Popen` would, so that
    callers tell "not found" from "cannot run" before anything starts.
    """
    path = env.get("PATH", os.defpath)
    found = shutil.which(program, path=path)
    if found is not None:
        return found
    places = (
        [program] if os.sep in program else [os.path.join(d or ".", program) for d in path.split(os.pathsep)]
    )
    if any(os.path.isfile(place) for place in places):
        raise PermissionError(13, "Permission denied", program)
    raise FileNotFoundError(2, "No such file or directory", program)


def start_guarded(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``command`` with ``env`` as its whole environment, killed by the kernel if this
    process dies first (Linux; elsewhere it is started plainly).

    Must be called from the thread that lives as long as the process (the main thread): the
    kernel sends the signal when the *thread* that started the child ends. Raises
    FileNotFoundError or PermissionError for a command that cannot be found or run.
    """
    program = _resolve(command[0], env)
    if not sys.platform.startswith("linux"):
        return subprocess.Popen([program, *command[1:]], env=dict(env))
    launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), program, *command]
    return subprocess.Popen(launcher, env=dict(env))
