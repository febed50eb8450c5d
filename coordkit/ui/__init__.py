"""``coordkit ui``: a live web view of a store's coordination state (``pip install coordkit[ui]``).

Pages for the overview, locks and semaphores, elections, services, config and keys, each at its
own URL, kept current through one coordkit watch and server-sent events. Embed it in a service
with :func:`create_app` (an ASGI application) or run it with :func:`serve`::

    from coordkit.ui import create_app
    app = create_app(client)          # read-only
    app = create_app(client, write=True)  # drain, set config, delete keys (with confirmation)

The application never closes ``client``. Without ``write`` every change is refused (403).
"""

from __future__ import annotations

import ipaddress
import signal
import socket
from types import FrameType

from coordkit import Client, ConfigurationError

from .app import PAGES, create_app

__all__ = ["PAGES", "check_bind", "create_app", "parse_bind", "serve"]

DEFAULT_PORT = 8470
# Seconds open pages (their event streams never end by themselves) may delay a shutdown.
_GRACE = 2


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``, or a bare host) as ``(host, port)``; raises
    ConfigurationError naming what is wrong."""
    host, sep, port = bind.rpartition(":")
    if not sep or "]" in port:
        host, port = bind, str(DEFAULT_PORT)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"--bind {bind!r}: expected HOST:PORT, e.g. 127.0.0.1:{DEFAULT_PORT}")
    return host, int(port)


def check_bind(host: str, *, allow_remote: bool) -> None:
    """Raise ConfigurationError unless ``host`` is a loopback address (or ``localhost``), or
    ``allow_remote`` says that another machine may reach the UI."""
    if allow_remote:
        return
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise ConfigurationError(f"--bind {host!r}: cannot resolve it ({exc})") from None
    if not all(ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in addresses):
        raise ConfigurationError(
            f"--bind {host!r} is not a loopback address: anyone who reaches it sees the store's "
            "coordination state; pass --allow-remote to serve it there anyway"
        )


def serve(
    client: Client,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    write: bool = False,
    allow_remote: bool = False,
    services_base: str = "/services",
    config_base: str = "/config",
) -> None:
    """Serve the UI over ``client`` with uvicorn until interrupted (Ctrl-C, SIGTERM).
    Raises ConfigurationError for a non-loopback ``host`` without ``allow_remote``."""
    import uvicorn

    check_bind(host, allow_remote=allow_remote)
    app = create_app(client, write=write, services_base=services_base, config_base=config_base)
    live = app.state.live
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=_GRACE)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # A stop asked for is the normal end: return (exit 0) rather than re-raise the
            # signal after the shutdown as uvicorn does. A second Ctrl-C forces the exit.
            self.force_exit = self.should_exit and sig == signal.SIGINT
            self.should_exit = True
            live.end()

    Server(config).run()
