"""What the example services share: settings from the environment (examples/README.md), one
log line per event, a patient connection to the store, orderly shutdown on SIGTERM/SIGINT, and a
small JSON-over-HTTP server on the standard library.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

import coordkit
import coordkit.metrics
from coordkit.errors import BackendUnavailableError, ConfigurationError

__all__ = [
    "App",
    "JsonServer",
    "Reply",
    "Stopping",
    "advertise_host",
    "checked",
    "connect",
    "enable_metrics",
    "instance_id",
    "listen_host",
    "port_from_env",
    "setup_logging",
    "valid_order_id",
]

Reply = tuple[int, dict[str, Any]]
_ORDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class App(Protocol):
    """What :class:`JsonServer` serves: one call per request, returning (status, JSON body)."""

    def route(self, method: str, path: str, body: Any) -> Reply: ...


# --- settings ------------------------------------------------------------------------------------


def instance_id() -> str:
    """``INSTANCE_ID``, else the host name (each container has its own)."""
    return os.environ.get("INSTANCE_ID") or socket.gethostname()


def advertise_host() -> str:
    """``ADVERTISE_HOST``, else the address this host's name resolves to (a container's own)."""
    explicit = os.environ.get("ADVERTISE_HOST")
    if explicit:
        return explicit
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def listen_host() -> str:
    """``LISTEN_HOST`` (local runs use 127.0.0.1), else every interface, as containers need."""
    return os.environ.get("LISTEN_HOST") or "0.0.0.0"


def port_from_env(default: int | None = None) -> int:
    """``PORT`` (0: any free port), else ``default``; SystemExit with a message if neither."""
    raw = os.environ.get("PORT", "").strip()
    if not raw:
        if default is None:
            raise SystemExit("PORT is not set: give the HTTP port to listen on, e.g. PORT=8081")
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise SystemExit(f"PORT={raw!r} is not a port number")
    return int(raw)


def valid_order_id(value: object) -> bool:
    """Order ids become coordkit key names: letters, digits, ``.``, ``_`` and ``-`` only."""
    return isinstance(value, str) and bool(_ORDER_ID.match(value))


def setup_logging(service: str, instance: str) -> logging.Logger:
    """One line per event on stderr, naming the instance and the logger (the service's own, or
    ``coordkit`` for the library's events: session lost, watch restarted); returns the service's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s.%(msecs)03d {instance} %(levelname)s %(name)s: %(message)s", "%H:%M:%S"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    return logging.getLogger(service)


# --- life cycle ----------------------------------------------------------------------------------


class Stopping:
    """SIGTERM and SIGINT ask for an orderly stop instead of killing the process at once.

    The handler only records the signal: setting a ``threading.Event`` from a signal handler can
    deadlock when the main thread is inside that event's own lock. :meth:`wait` polls the flag
    from the main thread and then sets :attr:`event`, which the other threads watch.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: str | None = None

    def install(self) -> Stopping:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.signal = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal is not None or self.event.is_set()

    def pause(self, seconds: float, poll: float = 0.1) -> None:
        """Sleep ``seconds``, or less if a stop is requested meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(poll, left))

    def wait(self) -> str:
        """Block the main thread until a stop is requested; set :attr:`event` and return the
        signal's name."""
        while not self.requested:
            time.sleep(0.1)
        self.event.set()
        return self.signal or "stop requested"


def connect(log: logging.Logger, stopping: Stopping, url: str | None = None) -> coordkit.Client | None:
    """Connect to ``url`` (default: ``COORDKIT_URL``, else the dev server), retrying while the
    store does not answer: in compose and Kubernetes a service may start before its store.

    Returns None if a stop is requested first. Raises ConfigurationError for a bad URL
    (retrying cannot fix that).
    """

    def say(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("store not reachable yet (attempt %d): %s", state.attempt_number, error)

    retrying = Retrying(
        retry=retry_if_exception_type(BackendUnavailableError),
        wait=wait_random_exponential(multiplier=0.2, max=5.0),
        stop=lambda _state: stopping.requested,
        sleep=stopping.pause,
        before_sleep=say,
        reraise=True,
    )
    try:
        client = retrying(coordkit.connect, url)
    except BackendUnavailableError:
        if stopping.requested:
            return None
        raise
    log.info(
        "connected to %s (%s, session TTL %gs)", client.url.split("?")[0], client.kind, client.session.ttl
    )
    return client


def enable_metrics(log: logging.Logger) -> None:
    """Record coordkit's metrics for ``GET /metrics`` (unless ``COORDKIT_METRICS=0``); call it
    before :func:`connect`. ``METRICS_PORT``: serve them on a port of their own too. Without
    prometheus_client installed it says so and goes on."""
    if os.environ.get("COORDKIT_METRICS", "1") == "0":
        return
    try:
        coordkit.metrics.enable()
    except ConfigurationError as exc:
        log.warning("no /metrics: %s", exc)
        return
    port = os.environ.get("METRICS_PORT")
    if port:  # a service without an HTTP server of its own (the settlement worker)
        from prometheus_client import start_http_server

        if not port.isdigit() or int(port) > 65535:
            raise SystemExit(f"METRICS_PORT={port!r} is not a port number")
        start_http_server(int(port), addr=listen_host())
        log.info("metrics at http://%s:%s/metrics", listen_host(), port)


def metrics_text() -> bytes | None:
    """The Prometheus text exposition of coordkit's registry, or None when not enabled."""
    recorder = coordkit.metrics.enabled()
    if recorder is None or recorder.families is None:
        return None
    from prometheus_client import generate_latest

    return generate_latest(recorder.families.registry)


# --- HTTP ----------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Decode a JSON body, call the app, encode its reply. HTTP/1.0: one request per connection,
    so that no idle keep-alive connection holds a thread when the server stops."""

    server: JsonServer
    server_version = "coordkit-example/1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        if method == "GET" and self.path.split("?")[0] == "/metrics":
            self._metrics()  # not a request of the app's: neither counted in flight nor drained
            return
        self.server.begin_request()
        try:
            status, body = self._call(method)
            self._send(status, body)
        except OSError:
            pass  # the client went away; nothing to tell it
        finally:
            self.server.end_request()

    def _call(self, method: str) -> Reply:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": "the body is not JSON"}
        try:
            return self.server.app.route(method, self.path.split("?")[0], body)
        except Exception as exc:  # one request's bug must not kill the server thread silently
            logging.getLogger("http").exception("%s %s failed", method, self.path)
            return 500, {"error": f"{type(exc).__name__}: {exc}"}

    def _metrics(self) -> None:
        text = metrics_text()
        if text is None:
            self._send(404, {"error": "metrics are not enabled (COORDKIT_METRICS=0 or no prometheus_client)"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the events worth reading


class JsonServer(ThreadingHTTPServer):
    """A threaded HTTP server for ``app``, counting requests in flight so that a stopping
    service can finish them. :meth:`start` serves on a thread of its own."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._idle = threading.Condition()
        self._in_flight = 0
        self.last_request = 0.0
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
        )
        self._thread.start()

    @property
    def in_flight(self) -> int:
        """Requests being served now (the one asking included)."""
        with self._idle:
            return self._in_flight

    def begin_request(self) -> None:
        with self._idle:
            self._in_flight += 1
            self.last_request = time.monotonic()

    def end_request(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float, quiet: float = 0.0) -> bool:
        """Wait until no request is in flight and none arrived for ``quiet`` seconds; False if
        ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while True:
                now = time.monotonic()
                calm = self._in_flight == 0 and now - self.last_request >= quiet
                if calm or now >= deadline:
                    return calm
                self._idle.wait(min(deadline - now, max(quiet - (now - self.last_request), 0.02)))

    def stop(self, drain: float = 10.0) -> None:
        """Stop accepting, let requests in flight finish (at most ``drain`` seconds), close."""
        self.shutdown()
        self.wait_idle(drain)
        self.server_close()


def checked(body: Any, fields: dict[str, type | tuple[type, ...]]) -> str | None:
    """Why ``body`` is not a JSON object with ``fields`` of the given types, or None if it is."""
    if not isinstance(body, dict):
        return "send a JSON object"
    for name, kind in fields.items():
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, kind):
            wanted = "number" if isinstance(kind, tuple) else kind.__name__
            return f"{name!r} must be a {wanted}"
    return None
