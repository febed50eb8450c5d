"""The one place where failures become exit codes and one-line messages on stderr.

Every failure leaves as a :class:`click.ClickException` carrying its :class:`.ExitCode`, and
Click's standalone mode shows it and exits with that code: :class:`CliError` for a failure
already phrased for the user (each :class:`coordkit.CoordkitError` gets its code from the one
table here, :func:`exit_code_for`), :class:`OneLineUsageError` for a usage error.

Nobody sees a traceback for an expected failure; set ``COORDKIT_DEBUG=1`` to get one for
an unexpected failure (a bug). A usage error is one line too, naming the help to read:
``coordkit: <message> (see 'coordkit <command> --help')``.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import click

from coordkit import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    ConflictError,
    CoordkitError,
    NotFoundError,
    PermissionDeniedError,
    SessionLostError,
    TLSError,
)

from .exit_codes import ExitCode

__all__ = [
    "CliError",
    "OneLineUsageError",
    "exit_code_for",
    "interrupts_exit_130",
    "message_for",
    "translate_errors",
]

# Bare `coordkit` or `coordkit config` (click >= 8.2): the help is the useful answer there.
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    kind for kind in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if kind is not None
)

# Most specific first: OperationTimeoutError is a BackendUnavailableError, and
# InvalidNameError a ConfigurationError, so they need no rows of their own.
_EXIT_CODES: Sequence[tuple[type[CoordkitError], ExitCode]] = (
    (TLSError, ExitCode.TLS),  # these three are ConfigurationErrors: before it
    (AuthenticationError, ExitCode.AUTH),
    (PermissionDeniedError, ExitCode.PERMISSION),
    (ConfigurationError, ExitCode.USAGE),
    (NotFoundError, ExitCode.NOT_FOUND),
    (ConflictError, ExitCode.CONFLICT),
    (BackendUnavailableError, ExitCode.UNAVAILABLE),
    (SessionLostError, ExitCode.SESSION_LOST),
)


class CliError(click.ClickException):
    """A failure already phrased for the user: ``coordkit: <message>`` and an exit code."""

    def __init__(self, message: str, exit_code: int = ExitCode.NOT_FOUND) -> None:
        super().__init__(message)
        # Click types exit_code as a class attribute; one class carrying each failure's code
        # keeps the mapping in the one table below instead of a subclass per code.
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"coordkit: {self.format_message()}", file=file, err=True)


class OneLineUsageError(click.UsageError):
    """A usage error shown as ``coordkit: <message> (see 'coordkit <command> --help')``:
    Click's four-line usage block cut to the two things a person needs, what was wrong and
    where to read more. Exits 2 (:attr:`.ExitCode.USAGE`), as Click's own usage errors do."""

    exit_code = ExitCode.USAGE

    def __init__(self, error: click.UsageError) -> None:
        # Fold line breaks only: the message may quote the user's text, spaces and all.
        text = re.sub(r"\s*\n\s*", " ", error.format_message().strip()).rstrip(".") or "bad usage"
        super().__init__(text, error.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"coordkit: {self.format_message()}{self._see_help()}", file=file, err=True)

    def _see_help(self) -> str:
        ctx = self.ctx
        if ctx is None or ctx.command.get_help_option(ctx) is None:
            return ""
        help_option = max(ctx.command.get_help_option_names(ctx), key=len)
        return f" (see '{ctx.command_path} {help_option}')"


# Usage errors shown as they are: already one line, or the help (the answer to a bare group).
_SHOWN_AS_IS: tuple[type[click.UsageError], ...] = (OneLineUsageError, *_NO_ARGS_IS_HELP)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def exit_code_for(exc: CoordkitError) -> ExitCode:
    """The exit code of a library error: the first row of the table that it is an instance of;
    :attr:`.ExitCode.NOT_FOUND` (1, "or another error") when no row matches."""
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.NOT_FOUND


def message_for(exc: CoordkitError, endpoints: Sequence[str]) -> str:
    """The user's line; an unreachable backend is always named, even when the library's
    message does not name it."""
    text = _one_line(str(exc)) or type(exc).__name__
    unnamed = [endpoint for endpoint in endpoints if endpoint not in text]
    if isinstance(exc, BackendUnavailableError) and unnamed:
        text = f"cannot reach {', '.join(endpoints)}: {text}"
    return text


def _is_click_control_flow(exc: BaseException) -> bool:
    # Click signals --help, exits and failures already phrased with exceptions; let them pass.
    return isinstance(exc, (click.ClickException, click.exceptions.Exit))


def _is_broken_pipe(exc: BaseException) -> bool:
    # `coordkit ls -r / | head`: Click's standalone mode exits quietly on EPIPE, let it.
    return isinstance(exc, BrokenPipeError)


@contextmanager
def interrupts_exit_130() -> Iterator[None]:
    """Ctrl-C (KeyboardInterrupt, or Click's Abort) becomes a quiet exit 130
    (:attr:`.ExitCode.INTERRUPTED`), where Click's standalone mode would print "Aborted!"
    and exit 1; and a usage error becomes a :class:`OneLineUsageError`. The rest passes."""
    try:
        yield
    except (KeyboardInterrupt, click.Abort):
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    except _SHOWN_AS_IS:
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc) from exc


@contextmanager
def translate_errors(endpoints: Callable[[], Sequence[str]] = tuple) -> Iterator[None]:
    """Turn whatever escapes a command into a :class:`click.ClickException` carrying its exit
    code, or into a quiet exit (:func:`interrupts_exit_130`).

    ``endpoints`` returns the servers to name when the store is unreachable; it is
    called only then, so it may look at a context that was never fully built.
    """
    try:
        with interrupts_exit_130():
            yield
    except CoordkitError as exc:
        raise CliError(message_for(exc, tuple(endpoints())), exit_code_for(exc)) from None
    except Exception as exc:
        if _is_click_control_flow(exc) or _is_broken_pipe(exc):
            raise
        if os.environ.get("COORDKIT_DEBUG"):
            traceback.print_exc()
        raise CliError(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}") from None
