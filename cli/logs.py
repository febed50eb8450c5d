"""Where the CLI's log lines go: stderr, warnings only unless ``-v`` or COORDKIT_DEBUG asks
for more. (The library itself configures no logging: it only names its loggers by module.)"""

from __future__ import annotations

import logging
import os
import sys

import click

__all__ = ["configure_logging", "verbosity"]


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (CliRunner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break a command
            self.handleError(record)


_handler: logging.Handler | None = None


def configure_logging(verbosity: int = 0) -> None:
    """Log lines on stderr: warnings only by default (a TTL the server clamped, ...), with
    ``-v`` also coordkit's INFO (each connection drop and return), with ``-vv`` or
    COORDKIT_DEBUG=1 everything, kazoo's DEBUG chatter included. kazoo stays at WARNING
    otherwise: its errors are already in the command's one-line message."""
    global _handler
    debug = bool(os.environ.get("COORDKIT_DEBUG")) or verbosity >= 2
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = _StderrHandler()
    _handler.setFormatter(
        logging.Formatter(
            "%(asctime)s %(name)s %(levelname)s %(message)s"
            if debug
            else "coordkit: %(levelname)s: %(message)s"
        )
    )
    root.addHandler(_handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO if verbosity == 1 else logging.WARNING)
    logging.getLogger("kazoo").setLevel(logging.DEBUG if debug else logging.WARNING)


def verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    if value:  # the default was set up by main(); CliRunner runs keep the test's logging
        configure_logging(value)
