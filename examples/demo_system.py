"""The demo's processes: the store (unless given), the example services as subprocesses with their
logs in files, waiting for readiness, SIGKILL on cue, and stopping everything at the end."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from coordkit.testing import EtcdServer, ServerError, ZooKeeperServer, eventually, free_ports

__all__ = ["DemoFailure", "Interrupted", "Interrupts", "LocalSystem", "Process", "wait_until"]

ROOT = Path(__file__).resolve().parent.parent
_STOP_WAIT = 15.0  # the services' contract: gone within 15 s of SIGTERM


class DemoFailure(Exception):
    """The demo cannot go on (or an invariant broke); ``logs`` names the log files worth a look."""

    def __init__(self, message: str, logs: tuple[Path, ...] = ()) -> None:
        super().__init__(message)
        self.logs = logs


class Interrupted(BaseException):
    """SIGINT, SIGTERM or SIGHUP reached the demo. A BaseException, as KeyboardInterrupt is, so
    that no ``except Exception`` on its way (in a library call, in a condition being polled)
    can take it for an ordinary failure and carry on."""


class Interrupts:
    """The demo's stop signals. Every signal is counted; the first one raises
    :class:`Interrupted` in the main thread, but only while :meth:`arm`-ed, and only once, so
    that the clean-up which follows is never cut short. Should anything swallow that one raise,
    :meth:`check` (called at every poll, see :meth:`LocalSystem.check_alive`) raises it again,
    and :attr:`received` decides the exit status whatever happened in between."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: str | None = None  # the first signal's name
        self._armed = False

    def install(self) -> None:
        """Catch the signals from now on (call first thing: a Ctrl-C before this is a traceback)."""
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)

    def arm(self) -> None:
        """Raise on the next signal; at once if one already came."""
        self._armed = True
        self.check()

    def quiet(self) -> None:
        """From now on only count signals: a second Ctrl-C must not cut the clean-up short."""
        self._armed = False

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came and the demo is not stopping already."""
        if self.received is not None and self._armed:
            raise Interrupted(self.received)

    def settle(self) -> None:
        """Stop taking signals, counting one that is already pending: the verdict comes next,
        and the exit status must be the one it prints. (Left to Python, a Ctrl-C after "PASSED"
        would land while the interpreter shuts down, which restores the default handlers, and
        kill the demo by SIGINT.) Blocked signals that arrive later are dropped at exit."""
        signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGNALS)
        pending = signal.sigpending() & set(self.SIGNALS)
        if self.received is None and pending:
            self.received = signal.Signals(min(pending)).name
        self._armed = False

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Hold back the raise for the ``with`` block (the signal is still counted), e.g. between
        starting a process and recording it: a raise in that window would leave it unstopped."""
        armed, self._armed = self._armed, False
        try:
            yield
        finally:
            self._armed = armed
        self.check()

    def _handle(self, signum: int, _frame: object) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name
        if self._armed:
            self._armed = False
            raise Interrupted(self.received)


@dataclass
class Process:
    """One example service running as a subprocess of the demo."""

    name: str
    service: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None
    killed_at: float | None = None  # time.time() of the SIGKILL
    exit_code: int | None = None

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> float:
        """SIGKILL now (no deregistration, no resignation: a crash); returns when it is gone."""
        self.killed_at = time.time()
        self.popen.kill()
        self.popen.wait(10)
        return self.killed_at

    def tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass
class LocalSystem:
    """The store and the services of one demo run. :meth:`stop` ends every process this object
    started (services first, then the store it started) and never raises; an ``atexit`` hook
    kills what is left if the interpreter exits some other way."""

    workdir: Path
    kind: str = "etcd"
    given_url: str | None = None
    ttl: float = 3.0
    processes: list[Process] = field(default_factory=list)
    server: EtcdServer | ZooKeeperServer | None = None
    url: str = ""
    store_label: str = ""
    interrupts: Interrupts = field(default_factory=Interrupts)

    def __post_init__(self) -> None:
        atexit.register(self._kill_leftovers)

    # --- the store -------------------------------------------------------------------------------
    def start_store(self, namespace: str) -> str:
        """Start a local etcd (or ZooKeeper) unless a URL was given; returns the URL the services
        use: the demo's own namespace and the session TTL as a query option."""
        if self.given_url is None:
            try:
                self.server = EtcdServer() if self.kind == "etcd" else ZooKeeperServer()
                # A raise inside start() could leave the server's process unknown to stop():
                # a Ctrl-C meanwhile takes effect once it has started (then it is stopped).
                with self.interrupts.deferred():
                    self.server.start()
            except ServerError as exc:
                raise DemoFailure(f"could not start {self.kind}: {str(exc).splitlines()[0]}") from None
            base = self.server.url
            self.store_label = f"{self._version()}, started locally at {base} (pid {self.server.pid})"
        else:
            base = self.given_url
            self.store_label = f"{base.split('?')[0]} (given with --url)"
        self.url = _with_namespace(base, namespace, self.ttl)
        return self.url

    def _version(self) -> str:
        if isinstance(self.server, EtcdServer):
            with contextlib.suppress(Exception):
                return f"etcd {self.server.version}"
            return "etcd"
        assert self.server is not None
        with contextlib.suppress(OSError):
            found = re.search(r"version: ([0-9.]+)", self.server.four_letter_word("srvr"))
            if found:
                return f"ZooKeeper {found.group(1)}"
        return "ZooKeeper"

    # --- the services --------------------------------------------------------------------------
    def launch(
        self, module: str, name: str, service: str, env: Mapping[str, str], *, port: bool = False
    ) -> Process:
        """Start ``python -m module`` with ``env`` added, its output to ``<workdir>/<name>.log``.
        With ``port``, a free port is picked and passed as PORT."""
        picked = free_ports(1)[0] if port else None
        environ = {
            **os.environ,
            **env,
            "COORDKIT_URL": self.url,
            "INSTANCE_ID": name,
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        if picked is not None:
            environ["PORT"] = str(picked)
        log_path = self.workdir / f"{name}.log"
        with self.interrupts.deferred(), open(log_path, "wb") as log:
            # A session of its own: a Ctrl-C in the terminal reaches the demo only, which then
            # stops the services in order instead of having them all die at once with the store.
            popen = subprocess.Popen(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=environ,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            process = Process(name, service, popen, log_path, picked)
            self.processes.append(process)  # before a signal may raise: stop() must know it
            with open(self.workdir / "pids", "a") as pids:  # for whoever cleans up after a SIGKILLed demo
                pids.write(f"{popen.pid} {name}\n")
        return process

    def named(self, name: str) -> Process:
        (found,) = [p for p in self.processes if p.name == name]
        return found

    def dead(self) -> list[Process]:
        """Services that exited without being killed by the demo."""
        return [p for p in self.processes if p.killed_at is None and not p.alive]

    def check_alive(self, what: str) -> None:
        """Raise DemoFailure (naming the logs) if a service exited without being killed, and
        Interrupted if a stop signal came (every wait of the demo polls this)."""
        self.interrupts.check()
        dead = self.dead()
        if dead:
            names = ", ".join(f"{p.name} (exit {p.popen.returncode})" for p in dead)
            raise DemoFailure(f"{names} exited {what}", tuple(p.log_path for p in dead))

    # --- the end ---------------------------------------------------------------------------------
    def stop(self) -> dict[str, int | None]:
        """SIGTERM every service still running, wait (SIGKILL after 15 s), then stop the store
        this object started. Returns each stopped service's exit code (None: needed SIGKILL)."""
        codes: dict[str, int | None] = {}
        running = [p for p in self.processes if p.alive]
        for process in running:
            with contextlib.suppress(OSError):
                process.popen.terminate()
        deadline = time.monotonic() + _STOP_WAIT
        for process in running:
            try:
                process.exit_code = process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(10)
            codes[process.name] = process.exit_code
        if self.server is not None:
            with contextlib.suppress(Exception):
                self.server.stop()
            self.server = None
        return codes

    def _kill_leftovers(self) -> None:
        for process in self.processes:
            if process.alive:
                process.popen.kill()


def _with_namespace(base: str, namespace: str, ttl: float) -> str:
    """``base`` with ``/namespace`` appended to its path and ``ttl`` set unless it has one."""
    head, _, query = base.partition("?")
    options = dict(parse_qsl(query))
    options.setdefault("ttl", f"{ttl:g}")
    return f"{head.rstrip('/')}/{namespace}?{urlencode(options)}"


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, system: LocalSystem, interval: float = 0.05
) -> float:
    """Poll ``condition`` until true; returns when (``time.time()``). Raises DemoFailure after
    ``timeout`` seconds, or at once if a service exited on its own (naming its log)."""

    def met() -> bool:
        if condition():
            return True
        system.check_alive(f"while the demo waited for {what}")  # raises at once, not retried
        return False

    try:
        eventually(met, timeout=timeout, interval=interval, message=what)
    except AssertionError as timed_out:
        raise DemoFailure(str(timed_out), tuple(p.log_path for p in system.processes)) from None
    return time.time()
