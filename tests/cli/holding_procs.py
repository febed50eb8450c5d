"""Helpers for the ``coordkit lock`` / ``coordkit elect`` process tests: reading a child's
output with deadlines, and polling a condition with one."""

from __future__ import annotations

import queue
import subprocess
import threading
from typing import IO

import pytest

import coordkit
from coordkit.testing import eventually


class Lines:
    """A child's stdout line by line, read on a thread so that every wait has a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], stream: IO[bytes] | None = None) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        source = stream if stream is not None else proc.stdout
        assert source is not None
        threading.Thread(target=self._pump, args=(source,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def next(self, timeout: float = 15) -> str:
        """The next line; fails the test at end of output or after ``timeout`` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output line within {timeout}s")
        if line is None:
            pytest.fail("the process ended without printing the expected line")
        return line

    def pending(self) -> list[str]:
        """Whatever was printed and not read yet, without waiting."""
        found: list[str] = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return found
            if line is not None:
                found.append(line)


def queue_length(client: coordkit.Client, name: str) -> int:
    contenders, _ = client.backend.queue_list(name)
    return len(contenders)


def wait_for_contenders(client: coordkit.Client, name: str, count: int) -> None:
    """Until ``count`` contenders queue under ``name`` (a waiter has certainly joined)."""
    eventually(
        lambda: queue_length(client, name) == count,
        message=f"{count} contenders queue under {name}",
        timeout=15,
    )


def stderr_of(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stderr is not None
    return proc.stderr.read().decode("utf-8", "replace")
