"""A coordkit UI served by uvicorn on a thread of the test process, on a free loopback port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

import coordkit
from coordkit.testing import eventually
from coordkit.ui import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_ui(client: coordkit.Client, *, write: bool = False) -> Iterator[str]:
    """The UI's base URL while it serves; stopped (and its watch cancelled) on exit."""
    port = free_port()
    app = create_app(client, write=write)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="coordkit-ui", daemon=True)
    thread.start()
    eventually(lambda: server.started, timeout=20)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app.state.live.end()  # the open pages' event streams, which would hold the shutdown
        server.should_exit = True
        thread.join(timeout=20)
        assert not thread.is_alive(), "the UI server did not stop"
