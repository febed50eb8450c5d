"""The fault proxy: forwards, holds bytes while blackholed (and delivers them after heal),
holds the replies only, aborts connections with a reset, delays chunks. Checked against a
loopback echo server that also records what reached it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from coordkit.testing import FaultProxy, eventually


@pytest.fixture
def received() -> list[bytes]:
    """What reached this test's echo server, in order."""
    return []


@pytest.fixture
def echo(received: list[bytes]) -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(4096):
                    received.append(data)
                    conn.sendall(data)
            except OSError:  # the proxy reset the connection: the point of one test
                pass

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    server.close()


def _client(proxy: FaultProxy) -> socket.socket:
    host, port = proxy.endpoints[0].split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def test_forwards_then_holds_while_blackholed_and_delivers_after_heal(echo: str) -> None:
    with FaultProxy([echo]) as proxy, _client(proxy) as sock:
        sock.sendall(b"one")
        assert sock.recv(16) == b"one"
        proxy.blackhole()
        sock.sendall(b"two")
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(16)
        proxy.heal()
        sock.settimeout(5)
        assert sock.recv(16) == b"two"  # nothing lost: as TCP over a partition that heals


def test_holding_replies_lets_requests_through_and_delivers_the_replies_after_heal(
    echo: str, received: list[bytes]
) -> None:
    with FaultProxy([echo]) as proxy, _client(proxy) as sock:
        proxy.hold_replies()
        assert proxy.mode == "hold-replies"
        sock.sendall(b"applied")
        eventually(lambda: b"".join(received) == b"applied", timeout=5, message="the request to arrive")
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            sock.recv(16)  # the server answered; the answer is held
        proxy.heal()
        sock.settimeout(5)
        assert sock.recv(16) == b"applied"


def test_reset_aborts_open_connections_and_serves_new_ones(echo: str) -> None:
    with FaultProxy([echo]) as proxy:
        with _client(proxy) as sock:
            sock.sendall(b"x")
            assert sock.recv(16) == b"x"
            proxy.reset()
            try:
                sock.sendall(b"y")
                got: bytes | None = sock.recv(16)
            except (ConnectionResetError, BrokenPipeError):
                got = None
            assert got in (None, b""), "the connection outlived the reset"
        with _client(proxy) as again:
            again.sendall(b"z")
            assert again.recv(16) == b"z"


def test_delay_holds_each_chunk(echo: str) -> None:
    with FaultProxy([echo]) as proxy, _client(proxy) as sock:
        proxy.delay(0.3)
        started = time.monotonic()
        sock.sendall(b"slow")
        assert sock.recv(16) == b"slow"
        assert time.monotonic() - started >= 0.6  # held once each way
