"""The dev servers' records and processes: state files, whether a pid is still ours, stopping it.

The bookkeeping behind :mod:`coordkit.dev.servers`. A record is trusted only as far as it can be
checked: a pid is taken to be our server only while ``/proc/PID/cmdline`` is the command recorded
at start, so a pid reused by another program after a reboot is never signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tenacity import Retrying, retry_if_result, stop_after_delay

from coordkit.core.retry import POLL
from coordkit.errors import DevServerError

from .containers import kill_container

log = logging.getLogger(__name__)

Ownership = Literal["ours", "gone", "other"]
StopOutcome = Literal["stopped", "killed", "gone", "not ours", "not running"]
_KILL_WAIT = 10.0
# Servers started by this process: it must collect them once they exit, or they stay zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class DevServer:
    """A dev server as recorded in its state file."""

    kind: str
    pid: int
    url: str
    ports: dict[str, int]
    folder: str
    command: tuple[str, ...]
    started_at: float = field(default_factory=time.time)

    @property
    def data_dir(self) -> Path:
        return Path(self.folder) / "data"

    @property
    def log_path(self) -> Path:
        return Path(self.folder) / "server.log"

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "command": list(self.command),
            "data_dir": str(self.data_dir),
            "log": str(self.log_path),
        }


@dataclass(frozen=True)
class DownResult:
    """What :func:`coordkit.dev.down` did for one kind.

    ``outcome``: ``stopped`` (exited on SIGTERM), ``killed`` (needed SIGKILL), ``gone`` (had already
    exited), ``not ours`` (its pid now belongs to another program, left alone), ``not running``.
    """

    kind: str
    pid: int | None
    outcome: StopOutcome
    purged: bool


def dev_dir() -> Path:
    """The dev folder: ``$COORDKIT_DEV_DIR``, else ``$XDG_CACHE_HOME/coordkit/dev``, else
    ``~/.cache/coordkit/dev`` (not created here)."""
    explicit = os.environ.get("COORDKIT_DEV_DIR")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "coordkit" / "dev"


# --- state files ---------------------------------------------------------------------------------


def record_path(kind: str) -> Path:
    return dev_dir() / f"{kind}.json"


def read_record(kind: str) -> DevServer | None:
    """The recorded server of ``kind``, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads(record_path(kind).read_text())
        return DevServer(
            data["kind"],
            int(data["pid"]),
            data["url"],
            dict(data["ports"]),
            data["folder"],
            tuple(data["command"]),
            float(data["started_at"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # A damaged record names no process we could safely signal: treat it as absent.
        log.warning("coordkit dev: ignoring unreadable %s: %s", record_path(kind), exc)
        return None


def write_record(server: DevServer) -> None:
    path = record_path(server.kind)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(server.to_json(), indent=2) + "\n")
    os.replace(temporary, path)  # readers see the old record or the new one, never half of one


def forget_record(kind: str) -> None:
    record_path(kind).unlink(missing_ok=True)


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """Hold the dev folder's lock (creating the folder): one `up` or `down` at a time per folder."""
    folder = dev_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(folder / ".lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


# --- processes -----------------------------------------------------------------------------------


def adopt(proc: subprocess.Popen[bytes]) -> None:
    """Remember a server this process started, so that its exit is collected here."""
    _children[proc.pid] = proc


def ownership(server: DevServer) -> Ownership:
    """Whether the recorded pid is still our server, gone, or now another program (pid reuse)."""
    child = _children.get(server.pid)
    if child is not None and child.poll() is not None:
        del _children[server.pid]
        return "gone"
    try:
        raw = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return "gone"
    except OSError:
        return _ownership_without_proc(server)
    if not raw:  # a zombie: it has exited, only its parent has not collected it yet
        return "gone"
    return "ours" if tuple(raw.decode(errors="replace").split("\0")[:-1]) == server.command else "other"


def _ownership_without_proc(server: DevServer) -> Ownership:
    # Where there is no /proc (macOS): ask ps, and accept the command if it names our folder.
    try:
        os.kill(server.pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        return "other"
    shown = subprocess.run(
        ["ps", "-o", "args=", "-p", str(server.pid)], capture_output=True, text=True, check=False
    ).stdout
    return "ours" if server.folder in shown else "other"


def stop(server: DevServer, timeout: float) -> StopOutcome:
    """SIGTERM the server if it is still ours, SIGKILL after ``timeout``; returns once it is gone."""
    found = ownership(server)
    if found != "ours":
        return "gone" if found == "gone" else "not ours"
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, signal.SIGTERM)
        os.kill(server.pid, signal.SIGCONT)  # a stopped (paused) process acts on SIGTERM only once continued
    if wait_for(lambda: ownership(server) != "ours", timeout):
        return "stopped"
    kill(server)
    return "killed"


def kill(server: DevServer) -> None:
    """SIGKILL the server if it is still ours and wait until it is gone (DevServerError if not)."""
    if ownership(server) == "ours":
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGKILL)
        # A SIGKILLed `docker run` client leaves its container running: kill that too.
        kill_container(server.command)
    if not wait_for(lambda: ownership(server) != "ours", _KILL_WAIT):
        raise DevServerError(f"{server.kind} pid {server.pid} survived SIGKILL")


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 50 ms until it is true (True) or ``timeout`` passes (False)."""
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=POLL,
        retry=retry_if_result(lambda done: not done),
        retry_error_callback=lambda _: False,
    )
    return bool(retrying(condition))
