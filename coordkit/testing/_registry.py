"""The registry of server processes this interpreter started, and free-port picking.

Every server process started here is recorded in a module-level registry and SIGKILLed at interpreter
exit, so an aborted test run does not leave servers behind. What this cannot cover: the Python process
itself being SIGKILLed, or dying from a signal whose default action skips ``atexit`` (SIGTERM with no
handler); the servers then outlive it and must be killed by their process id.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"
_KILL_WAIT = 10.0

_registry_lock = threading.Lock()
_live: dict[int, subprocess.Popen[bytes]] = {}
_scratch_dirs: set[Path] = set()


def register(proc: subprocess.Popen[bytes]) -> None:
    """Record a started server so that interpreter exit kills it if nobody stopped it."""
    with _registry_lock:
        _live[proc.pid] = proc


def unregister(proc: subprocess.Popen[bytes]) -> None:
    """Forget a server whose exit has been waited for."""
    with _registry_lock:
        _live.pop(proc.pid, None)


def track_dir(path: Path, track: bool) -> None:
    """Add (``track``) or drop a scratch folder to remove at interpreter exit."""
    with _registry_lock:
        if track:
            _scratch_dirs.add(path)
        else:
            _scratch_dirs.discard(path)


def live_pids() -> list[int]:
    """Process ids of the servers this interpreter started and has not yet seen exit."""
    with _registry_lock:
        return [pid for pid, proc in _live.items() if proc.poll() is None]


def _forget_after_fork() -> None:
    # A forked child inherits the registry but not the children: its atexit must not kill the
    # parent's servers nor delete their data.
    global _registry_lock
    _registry_lock = threading.Lock()
    _live.clear()
    _scratch_dirs.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


@atexit.register
def _kill_everything() -> None:
    with _registry_lock:
        procs = list(_live.values())
        dirs = list(_scratch_dirs)
        _live.clear()
        _scratch_dirs.clear()
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(_KILL_WAIT)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


def install_sigterm_exit() -> None:
    """Turn SIGTERM into ``SystemExit(128 + SIGTERM)`` so that the exit cleanup above stops the
    servers, unless a handler other than the default is already set, or this is not the main
    thread (where Python refuses handlers). For a script or a test run that a timeout may stop."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(128 + signum)

    with contextlib.suppress(ValueError):  # not the main thread: Python refuses handlers there
        signal.signal(signal.SIGTERM, stop)


# --- ports ----------------------------------------------------------------------------------------


def _ephemeral_floor() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports on 127.0.0.1 that were free a moment ago.

    Ports come from below the kernel's ephemeral range when it leaves room: an outgoing client
    connection never takes such a port as its source port, so a server restarted on the same port
    (``restart()``, ``kill()`` then ``start()``) finds it free. Another process can still take a
    port between this call and the server's bind; callers retry with new ports when that happens.
    """
    floor = _ephemeral_floor()
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        candidates = (
            random.sample(range(10000, floor), min(4 * count + 64, floor - 10000)) if floor > 12000 else []
        )
        for port in candidates:
            if len(ports) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind((HOST, port))
            except OSError:
                sock.close()
                continue
            held.append(sock)
            ports.append(port)
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((HOST, 0))
            held.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in held:
            sock.close()
    return ports
