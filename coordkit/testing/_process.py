"""One local server process: start it, wait until it serves, stop, kill, pause and restart it."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import ClassVar, TypeVar

from coordkit.testing._registry import HOST, free_ports, register, track_dir, unregister

_POLL_INTERVAL = 0.05
_PORT_ATTEMPTS = 4
_LOG_TAIL_LINES = 40
_KILL_WAIT = 10.0


class ServerError(RuntimeError):
    """A local server could not be started, stopped or queried as asked."""


class FaultInjectionUnavailable(NotImplementedError):
    """Process control was asked of a server this process did not start (an external server)."""


class _AddressInUse(ServerError):
    """A port that was free when picked was taken before the server bound it."""


# --- one server process ---------------------------------------------------------------------------

S = TypeVar("S", bound="ServerProcess")


class ServerProcess(ABC):
    """One local server process with its own ports, scratch folder, data and log.

    Lifecycle: ``start()`` creates a temporary folder, picks free ports and waits until the server
    serves. ``kill()`` and ``pause()`` inject faults; ``start()`` after ``kill()`` reuses the same
    ports and data (crash recovery), as does ``restart()``. ``stop()`` shuts down gracefully and
    removes the folder unless ``keep_data`` is set; a later ``start()`` begins afresh.
    """

    scheme: ClassVar[str]
    kind: ClassVar[str]
    port_names: ClassVar[tuple[str, ...]]
    # What runs the command: a subclass may put the process elsewhere (a container) and route
    # signals there, while poll() and wait() keep their meaning.
    _popen: ClassVar[type[subprocess.Popen[bytes]]] = subprocess.Popen

    def __init__(self, *, start_timeout: float, stop_timeout: float, keep_data: bool) -> None:
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep_data = keep_data
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._root: Path | None = None
        self._ports: dict[str, int] = {}
        self._log_offset = 0
        # Members of a cluster share the cluster's folder and ports; the cluster starts them afresh.
        self._in_cluster = False

    # -- what each server kind supplies

    @abstractmethod
    def _write_config(self) -> None:
        """Write whatever the command needs into the scratch folder (ports are assigned)."""

    @abstractmethod
    def _command(self) -> list[str]:
        """The argument vector that runs the server in the foreground."""

    @abstractmethod
    def _ready(self) -> bool:
        """Whether the server serves requests now; must not block longer than about a second."""

    def _environment(self) -> Mapping[str, str] | None:
        return None

    # -- properties

    @property
    def client_port(self) -> int:
        """The port clients connect to; raises ``ServerError`` before the first ``start()``."""
        return self._port("client")

    @property
    def endpoints(self) -> list[str]:
        """``["127.0.0.1:PORT"]`` for the client port."""
        return [f"{HOST}:{self.client_port}"]

    @property
    def url(self) -> str:
        """The coordkit URL for this server, such as ``zk://127.0.0.1:12345``."""
        return f"{self.scheme}://{','.join(self.endpoints)}"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (also while paused), else None."""
        return self._proc.pid if self.running and self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the process exists (it may be paused)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        """Whether ``pause()`` stopped the process and no ``resume()`` followed."""
        return self._paused and self.running

    @property
    def root_dir(self) -> Path:
        """The scratch folder holding configuration, data and log."""
        if self._root is None:
            raise ServerError(f"{self.kind} has no folder: it was never started or was stopped")
        return self._root

    @property
    def data_dir(self) -> Path:
        """Where the server keeps its data; kept across ``restart()`` and ``kill()``."""
        return self.root_dir / "data"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr, appended to across restarts."""
        return self.root_dir / "server.log"

    def _port(self, name: str) -> int:
        try:
            return self._ports[name]
        except KeyError:
            raise ServerError(f"{self.kind} has no {name} port before start()") from None

    # -- lifecycle

    def start(self) -> None:
        """Start the server and wait until it serves; if it already runs, only resume it if paused.

        Raises ``ServerError`` (with the tail of the server log) if it exits or does not serve
        within ``start_timeout`` seconds; the process is then killed and, on a first start, the
        folder removed unless ``keep_data`` is set. The same holds for any other exception,
        a KeyboardInterrupt included: no process outlives a start() that did not return.
        """
        if self.running:
            if self._paused:
                self.resume()
            return
        deadline = time.monotonic() + self.start_timeout
        if self._root is not None:
            self._launch_and_await(deadline)
            return
        if self._in_cluster:
            raise ServerError(f"{self.kind} member: start its cluster first")
        for _attempt in range(_PORT_ATTEMPTS):
            self._make_root(Path(tempfile.mkdtemp(prefix=f"coordkit-{self.kind}-")))
            self._ports = dict(zip(self.port_names, free_ports(len(self.port_names)), strict=True))
            self._write_config()
            try:
                self._launch_and_await(deadline)
                return
            except _AddressInUse:
                self._discard_root()
            except BaseException:
                self._discard_root()
                raise
        raise ServerError(f"{self.kind}: ports kept being taken by others in {_PORT_ATTEMPTS} attempts")

    def stop(self) -> None:
        """Stop gracefully (SIGTERM, then SIGKILL after ``stop_timeout``) and wait for the exit.

        Removes the scratch folder unless ``keep_data`` is set (cluster members leave that to their
        cluster). Safe to call at any time, repeatedly; after it returns no process is left.
        """
        _terminate([self], graceful=True)
        if not self._in_cluster:
            self._discard_root()

    def kill(self) -> None:
        """SIGKILL the process and wait for it to be gone; data and ports stay for ``start()``."""
        _terminate([self], graceful=False)

    def restart(self) -> None:
        """Stop gracefully and start again on the same ports with the same data."""
        _terminate([self], graceful=True)
        self.start()

    def pause(self) -> None:
        """SIGSTOP the process: sockets stay open but nothing answers, like an unreachable host.
        Returns once every thread of the process has stopped (a JVM takes a moment), so
        that no request is answered after this call."""
        self._signal(signal.SIGSTOP)
        self._paused = True
        if self._proc is not None:
            _wait_all_threads_stopped(self._proc.pid, deadline=time.monotonic() + 5)

    def resume(self) -> None:
        """SIGCONT a paused process; it then answers again without having lost anything."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running else "stopped"
        where = self.url if self._ports else "no ports yet"
        return f"<{type(self).__name__} {where} {state} pid={self.pid}>"

    # -- internals

    def _signal(self, sig: signal.Signals) -> None:
        if not self.running or self._proc is None:
            raise ServerError(f"{self.kind} is not running")
        self._proc.send_signal(sig)

    def _make_root(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._root = root
        if not self.keep_data:
            track_dir(root, True)

    def _discard_root(self) -> None:
        root, self._root = self._root, None
        if root is None or self.keep_data:
            return
        shutil.rmtree(root, ignore_errors=True)
        track_dir(root, False)

    def _launch(self) -> None:
        if self._proc is not None:
            # It exited on its own since: the entry is stale, and its pid may be reused.
            unregister(self._proc)
        command = self._command()
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== coordkit: {' '.join(command)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            # Popen waits for the exec after the fork: an interrupt raised there would leave a
            # process whose id nobody holds. It takes effect once the process is ours to kill.
            with _interrupts_deferred():
                try:
                    # A new session keeps a terminal's Ctrl-C from reaching the server before the
                    # tests have had a chance to stop it in order.
                    proc = self._popen(
                        command,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=self.root_dir,
                        env=self._environment(),
                        start_new_session=True,
                    )
                except OSError as exc:
                    raise ServerError(f"{self.kind}: cannot run {command[0]}: {exc}") from exc
                self._proc, self._paused = proc, False
                register(proc)

    def _launch_and_await(self, deadline: float) -> None:
        """Launch the process and wait until it serves. On any exception (a KeyboardInterrupt
        included) the process launched is SIGKILLed and waited for before it propagates."""
        try:
            self._launch()
            self._await_ready(deadline)
        except BaseException:
            _terminate([self], graceful=False)
            raise

    def _await_ready(self, deadline: float) -> None:
        proc = self._proc
        assert proc is not None
        while True:
            code = proc.poll()
            if self._address_in_use():
                raise _AddressInUse(self._failure("could not bind its ports"))
            if code is not None:
                raise ServerError(self._failure(f"exited with code {code} before serving"))
            if self._ready():
                return
            if time.monotonic() >= deadline:
                raise ServerError(self._failure(f"was not serving within {self.start_timeout:g}s"))
            time.sleep(_POLL_INTERVAL)

    def _log_since_launch(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _address_in_use(self) -> bool:
        return "address already in use" in self._log_since_launch().lower()

    def _failure(self, what: str) -> str:
        tail = "\n".join(self._log_since_launch().splitlines()[-_LOG_TAIL_LINES:])
        return f"{self.kind} on {self.endpoints} {what}; log {self.log_path}, last lines:\n{tail}"


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back, then act on them as their handlers would
    have (a KeyboardInterrupt, for SIGINT). Only Python-level handlers can be held back, and
    only in the main thread, where Python runs them; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, FrameType | None]] = []
    held: dict[int, Callable[[int, FrameType | None], object]] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if callable(handler):
            held[sig] = handler
            signal.signal(sig, lambda number, frame: caught.append((number, frame)))
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
        for number, frame in caught:
            held[number](number, frame)


def _terminate(servers: Sequence[ServerProcess], *, graceful: bool) -> None:
    """Signal all servers, then wait for each: SIGKILL after its ``stop_timeout`` if graceful."""
    for server in servers:
        proc = server._proc
        if proc is None or proc.poll() is not None:
            continue
        if graceful:
            proc.terminate()
            if server._paused:
                # A stopped process acts on SIGTERM only once it is continued.
                proc.send_signal(signal.SIGCONT)
        else:
            proc.kill()
    for server in servers:
        proc = server._proc
        if proc is None:
            continue
        try:
            proc.wait(server.stop_timeout if graceful else _KILL_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            try:
                proc.wait(_KILL_WAIT)
            except subprocess.TimeoutExpired as exc:
                raise ServerError(f"{server.kind} pid {proc.pid} survived SIGKILL") from exc
        unregister(proc)
        server._proc = None
        server._paused = False


def _wait_all_threads_stopped(pid: int, *, deadline: float) -> None:
    """Poll /proc until every thread of ``pid`` is in state T (stopped); Linux only, and a
    no-op where /proc is missing."""
    tasks = Path(f"/proc/{pid}/task")
    while time.monotonic() < deadline:
        try:
            states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0] for t in tasks.iterdir()]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return
        if all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
