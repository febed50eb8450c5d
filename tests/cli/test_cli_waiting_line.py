"""While ``lock`` and ``elect`` wait, a terminal shows on stderr what they wait for (who holds it,
with its token, and how many are ahead), updated as the queue moves; nothing on stdout, and
nothing at all when stderr is not a terminal. Real processes, real servers, a pty for stderr."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator

import pytest
from cli_helpers import cli_command, cli_env
from holding_procs import Lines, wait_for_contenders

import coordkit
from coordkit.testing import eventually


class Terminal:
    """A pty for a child's stderr: everything written to it, collected on a thread."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self._text = ""
        self._lock = threading.Lock()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: every writer has closed the pty
                return
            if not chunk:
                return
            with self._lock:
                self._text += chunk.decode("utf-8", "replace")

    @property
    def text(self) -> str:
        with self._lock:
            return self._text

    def wait_for(self, pattern: str, timeout: float = 20) -> None:
        def shown() -> bool:
            assert re.search(pattern, self.text), f"the terminal shows {self.text!r}"
            return True

        eventually(shown, timeout=timeout, interval=0.05, message=f"the terminal to show {pattern!r}")

    def close(self) -> None:
        os.close(self.master)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    tty = Terminal()
    yield tty
    tty.close()


@pytest.fixture
def clients(server_url: str) -> Iterator[list[coordkit.Client]]:
    """Two library clients (two sessions: each may queue once under one name)."""
    with coordkit.connect(server_url, ttl=4) as first, coordkit.connect(server_url, ttl=4) as second:
        yield [first, second]


def _start_on(terminal: Terminal, *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE, stderr=terminal.slave, env=cli_env())
    os.close(terminal.slave)  # the child holds it now; EOF once the child is gone
    return proc


def _line(what: str, key: str, token: int | None, ahead: int) -> str:
    return re.escape(f"coordkit: waiting for {what}: held by {key} (token {token}), {ahead} ahead")


def test_lock_shows_the_holder_and_the_queue_as_it_moves(
    server_url: str, clients: list[coordkit.Client], terminal: Terminal
) -> None:
    first, second = clients[0].lock("/orders/42"), clients[1].lock("/orders/42")
    assert first.acquire(timeout=10)
    queued = threading.Thread(target=second.acquire, daemon=True)
    queued.start()
    wait_for_contenders(clients[0], "/orders/42", 2)
    proc = _start_on(terminal, "--url", server_url, "lock", "/orders/42")
    try:
        terminal.wait_for(_line("lock orders/42", first.key or "", first.token, 2))
        first.release()
        queued.join(10)
        assert second.is_held
        terminal.wait_for(_line("lock orders/42", second.key or "", second.token, 1))
        second.release()
        key = Lines(proc).next(timeout=20)  # acquired: its key on stdout, and only that
        assert key.startswith("orders/42/")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""
        terminal.wait_for(re.escape("\r\x1b[Kcoordkit: holding lock orders/42"))  # erased, then the next note
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_elect_shows_the_leader_while_it_waits(
    server_url: str, clients: list[coordkit.Client], terminal: Terminal
) -> None:
    incumbent = clients[0].election("/svc/leader")
    assert incumbent.campaign("incumbent", timeout=10)
    proc = _start_on(terminal, "--url", server_url, "elect", "--wait", "30", "/svc/leader", "challenger")
    try:
        terminal.wait_for(_line("leadership of svc/leader", incumbent.key or "", incumbent.token, 1))
        incumbent.resign()
        assert Lines(proc).next(timeout=20).startswith("svc/leader/")  # elected: key, then proposal
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
