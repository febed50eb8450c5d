"""Helpers shared by the balancing tests: instances, a hand-driven clock, real HTTP servers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from coordkit.discovery.instance import ServiceInstance


def make_instances(
    n: int, *, weights: list[int] | None = None, zones: list[str] | None = None, name: str = "pay"
) -> list[ServiceInstance]:
    return [
        ServiceInstance(
            name,
            f"i{k}",
            "10.0.0.1",
            8000 + k,
            metadata={"zone": zones[k]} if zones else {},
            weight=weights[k] if weights else 1,
        )
        for k in range(n)
    ]


class FakeClock:
    """A clock the test advances by hand (for ejection back-offs and budgets)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Instance:
    """One tiny HTTP server in a thread; ``status`` is what it answers (200 or, e.g., 500)."""

    def __init__(self) -> None:
        self.status = 200
        self.hits = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                owner.hits += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                reply = json.dumps(
                    {
                        "port": owner.port,
                        "host": self.headers.get("Host"),
                        "path": self.path,
                        "body": body.decode(),
                    }
                ).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _answer  # noqa: N815 - the names http.server dispatches requests to

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # a short poll interval makes shutdown() prompt
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
