"""Local etcd and ZooKeeper servers for development (``coordkit dev``), kept running between commands.

:func:`up`, :func:`status` and :func:`down` manage them (see :mod:`coordkit.dev.servers`);
:func:`running_url` finds one. The servers are the test harness's (``coordkit.testing``), which
only this package may import: the core never imports it. ``coordkit.connect()`` given no URL
finds a running dev server through :func:`default_url`, installed as a URL provider (the
``coordkit.url_providers`` entry point, see :mod:`coordkit.core.url`).
"""

from __future__ import annotations

import logging

from .servers import (
    DEFAULT_PORTS,
    KINDS,
    PORT_ENV,
    DevServer,
    DevServerError,
    DevStatus,
    DownResult,
    UpResult,
    dev_dir,
    down,
    running_url,
    status,
    up,
)

__all__ = [
    "DEFAULT_PORTS",
    "KINDS",
    "PORT_ENV",
    "DevServer",
    "DevServerError",
    "DevStatus",
    "DownResult",
    "UpResult",
    "default_url",
    "dev_dir",
    "down",
    "running_url",
    "status",
    "up",
]


def default_url() -> str | None:
    """The URL provider for ``connect()`` without a URL: a running dev server's URL (logged at
    INFO, so that a program never talks to a dev server unknowingly), else None. Never raises
    for a missing or stale dev folder."""
    url = running_url()
    if url is not None:
        logging.getLogger(__name__).info("no URL given: using the dev server at %s", url)
    return url
