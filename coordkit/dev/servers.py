"""Local etcd and ZooKeeper servers for development, which outlive the command that starts them.

``coordkit dev up`` calls :func:`up`; the CLI, and ``coordkit.connect()`` through
:func:`coordkit.dev.default_url`, call :func:`running_url` when given no URL. The command lines,
config files and readiness checks are those of the test harness (``coordkit.testing``), but a dev
server is detached (its own session, output to a log file), never killed at interpreter exit, and
recorded in a state file so that later processes find it; with ``docker=True`` it runs in a
container (:mod:`coordkit.dev.containers`). Everything lives in the dev folder::

    etcd.json, zookeeper.json    the running server: pid, command line, ports, URL, folder (JSON)
    etcd/, zookeeper/            config, data/ and server.log; kept by down() unless purge=True

The dev folder is ``$COORDKIT_DEV_DIR``, else ``$XDG_CACHE_HOME/coordkit/dev``, else
``~/.cache/coordkit/dev``. Servers listen on 127.0.0.1 only: etcd on 2379 (peer 2380) and ZooKeeper
on 2181 when those are free, on other free ports otherwise. ``COORDKIT_DEV_ETCD_PORT`` and
``COORDKIT_DEV_ZOOKEEPER_PORT`` (or ``up(ports=...)``) ask for a port, 0 meaning any free one.
The ZooKeeper server ticks every 500 ms, so it grants session TTLs between 1 and 10 seconds.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import subprocess
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coordkit.testing import (
    EtcdServer,
    ServerError,
    ServerProcess,
    ZooKeeperServer,
    etcd_binary,
    free_ports,
    java_binary,
    zookeeper_classpath,
)

from ..errors import DevServerError
from .containers import container_of, docker_harness, not_available
from .ports import DEFAULT_PORTS, HOST, PORT_ATTEMPTS, PORT_ENV, PortTaken, pick_ports, requested_port
from .records import (
    DevServer,
    DownResult,
    StopOutcome,
    adopt,
    dev_dir,
    forget_record,
    kill,
    locked,
    ownership,
    read_record,
    stop,
    wait_for,
    write_record,
)
from .secure import harness as secure_harness
from .secure import is_secure, url_of

__all__ = [
    "DEFAULT_PORTS",
    "KINDS",
    "PORT_ENV",
    "DevServer",
    "DevServerError",
    "DevStatus",
    "DownResult",
    "UpResult",
    "dev_dir",
    "down",
    "running_url",
    "status",
    "up",
]

KINDS = ("etcd", "zookeeper")
_SCHEMES = {"etcd": "etcd", "zookeeper": "zk"}
_LOG_TAIL = 3

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevStatus:
    """What :func:`status` found for one kind.

    ``state``: ``running`` (ours and answering), ``unhealthy`` (ours but not answering now),
    ``stale`` (recorded, but the process is gone or the pid now belongs to another program),
    ``stopped`` (nothing recorded).
    """

    kind: str
    state: Literal["running", "unhealthy", "stale", "stopped"]
    server: DevServer | None


@dataclass(frozen=True)
class UpResult:
    """What :func:`up` did: servers started now, servers that already ran, kinds skipped (and why)."""

    started: tuple[DevServer, ...]
    already_running: tuple[DevServer, ...]
    skipped: Mapping[str, str]

    @property
    def servers(self) -> list[DevServer]:
        """Every server asked for that now runs, etcd first."""
        return sorted(self.started + self.already_running, key=lambda server: KINDS.index(server.kind))


# --- finding a running server ----------------------------------------------------------------------


def running_url(kind: str | None = None, *, timeout: float = 0.5) -> str | None:
    """The URL of a dev server that runs and answers now (etcd before ZooKeeper), else None.

    Reads the state file, checks that the pid is still the recorded server and that it answers
    within ``timeout`` seconds; never starts anything and never raises for a missing or stale state.
    """
    for candidate in _kinds(None if kind is None else [kind]):
        server = read_record(candidate)
        if server is not None and ownership(server) == "ours" and _serving(server, timeout):
            return server.url
    return None


def status(kinds: Collection[str] | None = None, *, timeout: float = 1.0) -> list[DevStatus]:
    """The state of each kind's dev server (all kinds by default), checking health now.

    Waits at most ``timeout`` seconds per server for an answer; changes nothing.
    """
    found = []
    for kind in _kinds(kinds):
        server = read_record(kind)
        if server is None:
            found.append(DevStatus(kind, "stopped", None))
        elif ownership(server) != "ours":
            found.append(DevStatus(kind, "stale", server))
        else:
            found.append(DevStatus(kind, "running" if _serving(server, timeout) else "unhealthy", server))
    return found


# --- up ------------------------------------------------------------------------------------------


def up(
    kinds: Collection[str] | None = None,
    *,
    ports: Mapping[str, int] | None = None,
    start_timeout: float = 60.0,
    secure: bool = False,
    docker: bool = False,
) -> UpResult:
    """Start the dev servers asked for (default: every kind installed here) unless they already run.

    Waits until each serves (at most ``start_timeout`` seconds each). A stale record is replaced.
    ``ports`` maps a kind to its client port (0: any free port); see the module docstring for the
    defaults. Raises DevServerError when a kind asked for explicitly is not installed (saying how
    to install it), when none is installed, or when a server does not start; a server that failed
    is killed and not recorded, while the others asked for stay up
    (``secure``: :mod:`coordkit.dev.secure`; ``docker``: in containers,
    :mod:`coordkit.dev.containers`)."""
    chosen = _kinds(kinds)
    if docker and secure:
        raise DevServerError("--secure servers run as local processes only: leave out --docker")
    missing = {kind: reason for kind in chosen if (reason := _not_installed(kind, docker))}
    if kinds is not None and missing:
        raise DevServerError("; ".join(f"cannot start {kind}: {why}" for kind, why in missing.items()))
    if len(missing) == len(chosen):
        raise DevServerError("no server to start: " + "; ".join(f"{k}: {why}" for k, why in missing.items()))
    started: list[DevServer] = []
    running: list[DevServer] = []
    with locked():
        for kind in chosen:
            if kind in missing:
                continue
            current = _current(kind, start_timeout)
            if current is not None and secure and not is_secure(current):
                raise DevServerError(
                    f"the {kind} dev server runs without --secure: `coordkit dev down` first"
                )
            if current is not None:
                running.append(current)
            else:
                started.append(_start(kind, requested_port(kind, ports), start_timeout, secure, docker))
    return UpResult(tuple(started), tuple(running), missing)


def _not_installed(kind: str, docker: bool = False) -> str | None:
    if docker:
        return not_available(kind)
    try:
        if kind == "etcd":
            etcd_binary()
        else:
            java_binary()
            zookeeper_classpath()
    except ServerError as exc:
        return str(exc)
    return None


def _current(kind: str, timeout: float) -> DevServer | None:
    """The recorded server if it is still ours (waiting until it answers); drops a stale record."""
    server = read_record(kind)
    if server is None:
        return None
    if ownership(server) != "ours":
        log.info("coordkit dev: %s pid %d is gone; starting a new one", kind, server.pid)
        forget_record(kind)
        return None
    if not wait_for(lambda: _serving(server, 0.5), timeout):
        raise DevServerError(
            f"the {kind} dev server (pid {server.pid}) runs but does not answer at {server.url}; "
            f"see {server.log_path}, or stop it with `coordkit dev down`"
        )
    return server


def _start(
    kind: str, requested: int | None, timeout: float, secure: bool = False, docker: bool = False
) -> DevServer:
    for _attempt in range(PORT_ATTEMPTS):
        ports = pick_ports(kind, requested)
        try:
            if secure and kind == "zookeeper":
                ports["secure"] = free_ports(1)[0]  # the TLS secureClientPort beside the plain one
            return _launch(kind, ports, timeout, secure, docker)
        except PortTaken:
            if requested:
                raise
    raise DevServerError(f"{kind}: its ports kept being taken by other programs; try again")


def _harness(
    kind: str,
    ports: Mapping[str, int],
    *,
    folder: Path | None = None,
    binary: str | None = None,
    secure: bool = False,
    docker: bool = False,
) -> ServerProcess:
    """The test harness's server object for ``kind`` on ``ports`` (and in ``folder``, created).

    It is used for its config file, command line and health check only, never started: its
    ``start()`` would pick a temporary folder and tie the process to this interpreter. The harness
    has no public way to set a folder and ports, hence the two private touches below.
    """
    server: ServerProcess
    if secure:
        server = secure_harness(kind, folder or dev_dir() / kind, binary=binary)
    elif docker:
        server = docker_harness(kind)
    elif kind == "etcd":
        server = EtcdServer(binary=binary, keep_data=True)
    else:
        server = ZooKeeperServer(keep_data=True)
    if folder is not None:
        server._make_root(folder)
    server._ports = dict(ports)
    return server


def _launch(
    kind: str, ports: Mapping[str, int], timeout: float, secure: bool = False, docker: bool = False
) -> DevServer:
    """Start one detached server, record it, and wait until it serves (killing it if it does not)."""
    folder = dev_dir() / kind
    harness = _harness(kind, ports, folder=folder, secure=secure, docker=docker)
    harness._write_config()
    command = harness._command()
    with open(harness.log_path, "ab") as log_file:
        log_file.write(f"\n=== coordkit dev up {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        log_file.flush()  # before the server writes to the same file
        offset = log_file.tell()
        try:
            # A session of its own: the terminal's Ctrl-C and hang-up must not reach it.
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=folder,
                env=harness._environment(),
                start_new_session=True,
            )
        except OSError as exc:
            raise DevServerError(f"cannot run {command[0]}: {exc}") from exc
    adopt(proc)
    url = url_of(kind, HOST, ports) if secure else f"{_SCHEMES[kind]}://{HOST}:{ports['client']}"
    server = DevServer(kind, proc.pid, url, dict(ports), str(folder), tuple(command))
    # Recorded before it serves, so that `coordkit dev down` finds it even if this process dies now.
    write_record(server)
    try:
        _await_serving(server, proc, offset, timeout)
        if secure and kind == "etcd":
            harness.enable_auth()  # type: ignore[attr-defined]  # a SecureEtcdServer
    except BaseException:
        kill(server)
        forget_record(kind)
        raise
    log.info("coordkit dev: started %s pid %d at %s", kind, proc.pid, server.url)
    return server


def _await_serving(server: DevServer, proc: subprocess.Popen[bytes], offset: int, timeout: float) -> None:
    def serving() -> bool:
        if "address already in use" in _log_since(server, offset).lower():
            raise PortTaken(f"{server.kind}: a port of {server.ports} was taken")
        code = proc.poll()
        if code is not None:
            raise DevServerError(
                f"{server.kind} exited with code {code} before serving; {_log_hint(server, offset)}"
            )
        return _serving(server, 0.5)

    if not wait_for(serving, timeout):
        raise DevServerError(
            f"{server.kind} was not serving at {server.url} within {timeout:g}s; {_log_hint(server, offset)}"
        )


def _log_since(server: DevServer, offset: int) -> str:
    with contextlib.suppress(OSError), open(server.log_path, "rb") as log_file:
        log_file.seek(offset)
        return log_file.read().decode(errors="replace")
    return ""


def _log_hint(server: DevServer, offset: int) -> str:
    tail = [line.strip() for line in _log_since(server, offset).splitlines() if line.strip()][-_LOG_TAIL:]
    return f"log {server.log_path}" + (f", last lines: {' | '.join(tail)}" if tail else " is empty")


# --- down ----------------------------------------------------------------------------------------


def down(
    kinds: Collection[str] | None = None, *, purge: bool = False, stop_timeout: float = 10.0
) -> list[DownResult]:
    """Stop the dev servers (all kinds by default) and remove their state files.

    Signals a pid only after checking that its command line is the recorded server's: SIGTERM,
    then SIGKILL after ``stop_timeout`` seconds; returns once the process is gone. ``purge`` also
    removes the kind's folder (data, config and log). Raises DevServerError only if a process
    survives SIGKILL.
    """
    results = []
    with locked():
        for kind in _kinds(kinds):
            server = read_record(kind)
            outcome: StopOutcome = "not running"
            if server is not None:
                outcome = stop(server, stop_timeout)
                forget_record(kind)
            folder = dev_dir() / kind
            purged = purge and folder.exists()
            if purged:
                shutil.rmtree(folder)
            results.append(DownResult(kind, server.pid if server else None, outcome, purged))
    return results


# --- helpers -------------------------------------------------------------------------------------


def _serving(server: DevServer, timeout: float) -> bool:
    """Whether the server answers now: etcd's /health says true, ZooKeeper's ``srvr`` has a Mode."""
    try:
        harness = _harness(
            server.kind,
            server.ports,
            binary=server.command[0] if server.kind == "etcd" else None,
            folder=Path(server.folder),
            secure=is_secure(server),
            docker=container_of(server.command) is not None,
        )
    except ServerError:
        return False
    if isinstance(harness, EtcdServer):
        return harness.healthy(timeout)
    assert isinstance(harness, ZooKeeperServer)
    return harness.mode(timeout) is not None


def _kinds(kinds: Collection[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise DevServerError(f"unknown dev server kind(s) {unknown}; known: {', '.join(KINDS)}")
    return tuple(kind for kind in KINDS if kind in kinds)
