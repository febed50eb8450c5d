"""Worker processes for fault tests: start, pause, kill and read the history of each.

``Workers(tmp_path)`` starts ``python -m coordkit.testing.worker`` processes (see that module
for the roles), each logging to its own file in one folder; the test pauses (SIGSTOP),
resumes, kills or stops them, waits for events in their histories, and at the end hands
every history to the checkers of :mod:`coordkit.testing.history`. ``close()`` (or the
``with`` block) kills whatever is still running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from coordkit.testing.history import Event, load
from coordkit.testing.polling import eventually

__all__ = ["Worker", "Workers"]


class _Exited(Exception):
    """The worker process ended while a wait expected it to log something."""


_POLL = 0.01


class Worker:
    """One worker process and its history file."""

    def __init__(self, name: str, role: str, url: str, path: Path, options: dict[str, Any]) -> None:
        self.name, self.role, self.url, self.path = name, role, url, path
        path.touch()
        self._stderr = path.with_suffix(".stderr")
        with open(self._stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "coordkit.testing.worker",
                    role,
                    url,
                    str(path),
                    name,
                    json.dumps(options),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )
        # Only this process holds the pipe's write end: the worker reads end of file, and
        # stops, when this process is gone however it ended (see coordkit.testing.worker).
        self.paused = False

    def events(self) -> list[Event]:
        return load([self.path])

    def wait_for(
        self, event: str, timeout: float, since: int = 0, match: Callable[[Event], bool] | None = None
    ) -> Event:
        """The first ``event`` logged at or after ``since`` (monotonic ns) that ``match``es;
        raises AssertionError (with the worker's stderr) after ``timeout`` seconds."""

        def logged() -> Event | None:
            for found in self.events():
                if found["e"] == event and found["t"] >= since and (match is None or match(found)):
                    return found
            if self.proc.poll() is not None:
                raise _Exited  # it will log nothing more: fail now, not at the deadline
            return None

        try:
            found = eventually(logged, timeout=timeout, interval=_POLL)
        except (AssertionError, _Exited):
            self._dump_stacks()
            tail = self._stderr.read_text()[-6000:]
            raise AssertionError(
                f"worker {self.name} logged no {event!r} within {timeout:g}s "
                f"(exit code {self.proc.poll()}); stderr:\n{tail}"
            ) from None
        assert found is not None  # eventually() returns only a truthy value
        return found

    def _dump_stacks(self) -> None:
        if self.proc.poll() is None and not self.paused:
            os.kill(self.proc.pid, signal.SIGUSR1)  # faulthandler writes them to stderr
            time.sleep(0.2)  # a diagnostic on the way to a failure: let it be written

    def pause(self) -> int:
        """SIGSTOP the worker; returns the monotonic ns just before."""
        t = time.monotonic_ns()
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True
        return t

    def resume(self) -> int:
        """SIGCONT the worker; returns the monotonic ns just before (the worker may run, and
        stamp events, before this process reads the clock again)."""
        t = time.monotonic_ns()
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False
        return t

    def kill(self) -> None:
        """SIGKILL: no cleanup, the session expires on the servers after its TTL."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the worker closes its client), SIGKILL after ``timeout`` seconds."""
        if self.paused:
            self.resume()
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()  # reaps it and closes the pipe


class Workers:
    """Every worker of one test, with their history files in ``folder``."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.all: list[Worker] = []

    def start(self, name: str, role: str, url: str, **options: Any) -> Worker:
        worker = Worker(name, role, url, self.folder / f"{name}.jsonl", options)
        self.all.append(worker)
        return worker

    def history(self) -> list[Event]:
        """Every worker's events, merged in time order."""
        return load([w.path for w in self.all])

    def stop(self) -> None:
        for worker in self.all:
            worker.stop()

    def close(self) -> None:
        for worker in self.all:
            if worker.paused and worker.proc.poll() is None:
                worker.resume()
            worker.kill()

    def __enter__(self) -> Workers:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
