"""watch, in-process: the lines it prints and a clean exit 0 on SIGINT and SIGTERM.

The command runs on the main thread (signal handlers live there); a helper thread makes
the changes once the watch exists, waits for the printed lines with a deadline, then
signals this process.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import Result

import coordkit
from coordkit_cli import output

Invoke = Callable[..., Result]
DEADLINE = 10.0


class WatchDriver:
    """Hooks that tell the test when the watch is running and what it printed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ready = threading.Event()
        self.printed: queue.Queue[str] = queue.Queue()
        real_watch = coordkit.Client.watch
        real_line, real_record = output.Output.line, output.Output.record

        def watch(client: coordkit.Client, *args: Any, **kwargs: Any) -> coordkit.WatchHandle:
            handle = real_watch(client, *args, **kwargs)
            self.ready.set()
            return handle

        def line(out: output.Output, text: str = "") -> None:
            real_line(out, text)
            self.printed.put(text)

        def record(out: output.Output, data: Any) -> None:
            real_record(out, data)
            self.printed.put(json.dumps(data))

        monkeypatch.setattr(coordkit.Client, "watch", watch)
        monkeypatch.setattr(output.Output, "line", line)
        monkeypatch.setattr(output.Output, "record", record)

    def drive(self, changes: Callable[[], None], expected_lines: int, signum: int) -> threading.Thread:
        def run() -> None:
            try:
                if self.ready.wait(DEADLINE):
                    changes()
                    for _ in range(expected_lines):
                        self.printed.get(timeout=DEADLINE)
            finally:  # always stop the command, or the test would hang
                os.kill(os.getpid(), signum)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_watch_prints_changes_and_exits_0_on_signal(
    invoke: Invoke, store: coordkit.Client, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    driver = WatchDriver(monkeypatch)

    def changes() -> None:
        store.put("/app/a", "1")
        store.put("/app/b/c", "two words")
        store.put("/other", "not watched")
        store.delete("/app/a")

    thread = driver.drive(changes, expected_lines=3, signum=signum)
    result = invoke("watch", "-r", "/app")
    thread.join(DEADLINE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["PUT /app/a = 1", "PUT /app/b/c = two words", "DELETE /app/a"]


def test_watch_one_key_json_lines(
    invoke: Invoke, store: coordkit.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = WatchDriver(monkeypatch)

    def changes() -> None:
        store.put("/app/a/below", "not the key")
        store.put("/app/a", b"\xff")
        store.delete("/app/a")

    thread = driver.drive(changes, expected_lines=2, signum=signal.SIGINT)
    result = invoke("--json", "watch", "/app/a")
    thread.join(DEADLINE)
    assert result.exit_code == 0
    put, delete = (json.loads(line) for line in result.stdout.splitlines())
    assert put["type"] == "put" and put["key"] == "/app/a"
    assert put["encoding"] == "base64" and put["value"] == "/w=="
    assert put["version"] == 1 and put["revision"] == put["mod_revision"]
    assert delete == {"type": "delete", "key": "/app/a", "revision": delete["revision"]}
    assert delete["revision"] > put["revision"]


def test_watch_restores_the_signal_handlers(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    driver = WatchDriver(monkeypatch)
    thread = driver.drive(lambda: None, expected_lines=0, signum=signal.SIGTERM)
    assert invoke("watch", "/k").exit_code == 0
    thread.join(DEADLINE)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
