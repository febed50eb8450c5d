"""While the server is down, reconnect attempts do not flood the log: coordkit says once that
the link dropped and once that it is back (and after how long), kazoo's per-attempt lines are
DEBUG, and every coordkit logger is named by its module. In the CLI, kazoo stays at WARNING
and the drop and return are shown with -v."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

import pytest

import coordkit
from coordkit import SessionState
from coordkit.testing import EtcdServer, ZooKeeperServer, eventually

DEADLINE = 30.0


class Records(logging.Handler):
    """Every record of every logger, and a way to wait for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self.changed:
            self.records.append(record)
            self.changed.notify_all()

    def wait(self, test: Callable[[logging.LogRecord], bool], count: int, what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        with self.changed:
            while sum(1 for r in self.records if test(r)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"never saw {count} x {what}"
                self.changed.wait(left)


@pytest.fixture
def records() -> Records:
    handler = Records()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def _attempt(kind: str) -> Callable[[logging.LogRecord], bool]:
    """A DEBUG line about one more try while the server is down."""
    if kind == "zookeeper":
        return lambda r: r.name.startswith("kazoo") and r.getMessage().startswith("Connecting to")
    return lambda r: r.name == "coordkit.backends.etcd.watch" and "retries from revision" in r.getMessage()


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_an_outage_is_two_info_lines_and_attempts_are_debug(kind: str, records: Records) -> None:
    # A TTL that outlasts a restart (about 1 s; a reconnect attempt that meets the restarting
    # server is bounded, see coordkit.backends.zookeeper.session), so the session survives it
    # (ZooKeeper grants up to 20 ticks); kill() keeps the data and ports for start().
    server = ZooKeeperServer(tick_time_ms=1500) if kind == "zookeeper" else EtcdServer()
    with server, coordkit.connect(server.url, ttl=20, timeout=2) as client:
        ours = f"{client.session.session_id:x}"  # other tests' clients may still be closing
        watch = client.watch("/logged", recursive=True, callback=lambda event: None)
        start = len(records.records)
        server.kill()
        assert client.session.wait_for(SessionState.SUSPENDED, DEADLINE)
        records.wait(_attempt(kind), 3, "a reconnect attempt at DEBUG")
        server.start()
        assert client.session.wait_for(SessionState.CONNECTED, DEADLINE)
        watch.cancel()
        seen = records.records[start:]
    loud = [r for r in seen if r.levelno >= logging.INFO]
    attempts = [r for r in seen if _attempt(kind)(r)]
    assert all(r.levelno == logging.DEBUG for r in attempts) and len(attempts) >= 3
    per_attempt = (
        "Connecting to",
        "Connection dropped",
        "Connection time-out",
        "Transition to CONNECTING",
        "Zookeeper connection lost",
        "stream broke",
        "retries from revision",
    )
    assert not [r for r in loud if any(text in r.getMessage() for text in per_attempt)], [
        r.getMessage() for r in loud
    ]
    session = [r.getMessage() for r in loud if r.name == "coordkit.session" and ours in r.getMessage()]
    assert len(session) == 2, session
    assert "connected -> suspended" in session[0]
    assert "suspended -> connected" in session[1] and "s without the servers" in session[1]
    assert all(r.name.startswith("coordkit.") for r in loud if not r.name.startswith("kazoo")), [
        r.name for r in loud
    ]


def _lines(stream: IO[str]) -> queue.SimpleQueue[str]:
    """The lines of ``stream``, read on a thread as they come."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _until(lines: queue.SimpleQueue[str], seen: list[str], text: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not any(text in line for line in seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} on stderr in {seen}"
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=left))


def test_the_cli_shows_the_outage_with_v_and_keeps_kazoo_quiet() -> None:
    with ZooKeeperServer(tick_time_ms=1500) as server:
        env = {k: v for k, v in os.environ.items() if k not in ("COORDKIT_URL", "COORDKIT_DEBUG")}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coordkit_cli",
                "-v",
                "--url",
                f"{server.url}?ttl=20",
                "watch",
                "-r",
                "/cli-logged",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        out, err = _lines(proc.stdout), _lines(proc.stderr)
        seen: list[str] = []
        try:
            with coordkit.connect(server.url) as writer:
                # The watch is in place once a write shows up on stdout: write until one does.

                def watch_started() -> bool:
                    if proc.poll() is not None:
                        pytest.fail(f"the watch command exited ({proc.returncode}) before it showed a write")
                    if not out.empty():
                        return True
                    writer.put("/cli-logged/k", "1")
                    return False

                # A write every 0.2 s (the interval paces the writes) until one shows up.
                eventually(watch_started, timeout=DEADLINE, interval=0.2, message="the watch to show a write")
            server.kill()
            _until(err, seen, "connected -> suspended")
            restarting = time.monotonic()
            server.start()
            seen.append(f"(test: the server took {time.monotonic() - restarting:.1f}s to restart)")
            _until(err, seen, "suspended -> connected")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=DEADLINE)
        while not err.empty():
            seen.append(err.get())
    text = [line.strip() for line in seen if line.strip()]
    assert not [line for line in text if "Connecting to" in line or "Connection dropped" in line], text
    session = [line for line in text if "coordkit session" in line and "closed" not in line]
    assert len(session) == 2 and "s without the servers" in session[1], text
