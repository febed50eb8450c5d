"""The options that ``coordkit lock`` and ``coordkit elect`` share: the session TTL, and how
long to wait to win (``--wait``, with its deprecated name ``--timeout``)."""

from __future__ import annotations

from collections.abc import Callable

import click

from ._seconds import WAIT_SECONDS
from .exit_codes import ExitCode
from .output import Output

__all__ = ["chosen_wait", "ttl_option", "wait_option"]


ttl_option = click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Session TTL: how long the servers keep what this process holds after it stops "
    "answering (a crash, a pause). Default: the URL's ttl, else 10.",
)


def wait_option(gives_up: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--wait SECONDS`` (parameter ``wait``), and the deprecated ``--timeout`` it replaces.

    ``--wait`` bounds only the wait to win; the global ``--timeout`` (before the command)
    bounds each operation, as in every other command. ``lock --timeout`` still means
    ``--wait``, says so on stderr, and is hidden from the help.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        command = click.option(
            "--timeout",
            "deprecated_wait",
            type=WAIT_SECONDS,
            metavar="SECONDS",
            hidden=True,
            callback=_warn_deprecated_wait,
        )(command)
        return click.option(
            "--wait",
            "wait",
            type=WAIT_SECONDS,
            metavar="SECONDS",
            help=f"How long to wait {gives_up} before giving up (exit {ExitCode.NOT_WON.value}). "
            "Default: wait forever. The global --timeout bounds each request to the servers, "
            "not this wait.",
        )(command)

    return decorate


def _warn_deprecated_wait(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None:
        Output.note(
            f"`{ctx.command_path} --timeout` is deprecated: it means --wait (how long to wait); "
            f"the global `coordkit --timeout` bounds each operation"
        )
    return value


def chosen_wait(wait: float | None, deprecated_wait: float | None) -> float | None:
    """The wait asked for with --wait or the deprecated --timeout; a usage error if both."""
    if wait is not None and deprecated_wait is not None:
        raise click.UsageError("--timeout is the deprecated name of --wait: give only --wait")
    return wait if wait is not None else deprecated_wait
