"""The one place where failures become exit codes and one-line messages on stderr.

The exit codes are :class:`ExitCode`, the one table: ``coordkit --help`` prints it
(:func:`exit_code_table`) and every command exits through it, so the two cannot drift.

Nobody sees a traceback for an expected failure; set ``COORDKIT_DEBUG=1`` to get one for
an unexpected failure (a bug). A usage error is one line too, naming the help to read:
``coordkit: <message> (see 'coordkit <command> --help')``.
"""

from __future__ import annotations

import enum
import os
import re
import sys
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

__all__ = ["CliError", "ExitCode", "exit_code_table", "exits_like_click", "translate_errors", "usage_line"]


class ExitCode(enum.IntEnum):
    """Every status the ``coordkit`` command exits with, and what each means."""

    meaning: str

    def __new__(cls, value: int, meaning: str) -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.meaning = meaning
        return member

    OK = 0, "success (watch: also when stopped by Ctrl-C or SIGTERM)"
    NOT_FOUND = 1, "not found: the key, config, setting or service asked for; or another error"
    USAGE = 2, "bad usage, URL, option or key name"
    CONFLICT = 3, "conflict: the key exists, or is at another version"
    UNAVAILABLE = 4, "no server answered within the timeout"
    SESSION_LOST = 5, "the session was lost (lock, elect: the lock or leadership was lost)"
    NOT_WON = 6, "lock, elect: not acquired or elected within --wait"
    UNHEALTHY = 7, "status: an endpoint does not answer, or the cluster has no leader"
    AUTH = 8, "authentication failed: wrong or missing user or password"
    TLS = 9, ("TLS failed: untrusted or mismatched server certificate, missing or expired client "
              "certificate, or TLS on one side only")
    PERMISSION = 10, "permission denied: the user's roles (etcd) or the node's ACL (ZooKeeper) refuse it"
    CANNOT_RUN = 126, "lock, elect, register: COMMAND exists but cannot be run"
    COMMAND_NOT_FOUND = 127, "lock, elect, register: COMMAND not found"
    INTERRUPTED = 130, "interrupted (Ctrl-C; lock, elect: also SIGTERM while waiting)"


def exit_code_table() -> str:
    """The ``--help`` epilog: one line per :class:`ExitCode`, kept unwrapped (``\\b``)."""
    rows = [f"  {code.value:<4} {code.meaning}" for code in ExitCode]
    return "\n".join(["\b", "Exit codes:", *rows,
                      "  lock, elect and register with a COMMAND exit with the command's status."]) + "\n"


# Bare `coordkit` or `coordkit config` (click >= 8.2): the help is the useful answer there.
_NO_ARGS_IS_HELP: tuple[type[click.UsageError], ...] = tuple(
    kind for kind in (getattr(click.exceptions, "NoArgsIsHelpError", None),) if kind is not None)

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
        self.exit_code = exit_code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"coordkit: {self.format_message()}", file=file, err=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def exit_code_for(exc: CoordkitError) -> ExitCode:
    for kind, code in _EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return ExitCode.NOT_FOUND  # "or another error"


def message_for(exc: CoordkitError, endpoints: Sequence[str]) -> str:
    """The user's line; an unreachable backend is always named, even when the library's
    message does not name it."""
    text = _one_line(str(exc)) or type(exc).__name__
    unnamed = [endpoint for endpoint in endpoints if endpoint not in text]
    if isinstance(exc, BackendUnavailableError) and unnamed:
        text = f"cannot reach {', '.join(endpoints)}: {text}"
    return text


def _is_click_control_flow(exc: BaseException) -> bool:
    # Click signals usage errors, --help and exits with exceptions; they are not failures.
    return isinstance(exc, (click.ClickException, click.exceptions.Exit, click.Abort))


def _is_broken_pipe(exc: BaseException) -> bool:
    # `coordkit ls -r / | head`: Click itself exits quietly on EPIPE, let it.
    return isinstance(exc, BrokenPipeError)


@contextmanager
def translate_errors(endpoints: Callable[[], Sequence[str]] = tuple) -> Iterator[None]:
    """Turn whatever escapes a command into a :class:`CliError` or a quiet exit.

    ``endpoints`` returns the servers to name when the store is unreachable; it is
    called only then, so it may look at a context that was never fully built.
    """
    try:
        yield
    except CoordkitError as exc:
        raise CliError(message_for(exc, tuple(endpoints())), exit_code_for(exc)) from None
    except KeyboardInterrupt:
        raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
    except Exception as exc:
        if _is_click_control_flow(exc) or _is_broken_pipe(exc):
            raise
        if os.environ.get("COORDKIT_DEBUG"):
            traceback.print_exc()
        raise CliError(f"internal error: {type(exc).__name__}: {_one_line(str(exc))}") from None


def usage_line(exc: click.UsageError) -> str:
    """``coordkit: <message> (see 'coordkit <command> --help')``: Click's four-line usage
    block cut to the two things a person needs, what was wrong and where to read more."""
    # Fold line breaks only: the message may quote the user's text, spaces and all.
    text = re.sub(r"\s*\n\s*", " ", exc.format_message().strip()).rstrip(".") or "bad usage"
    ctx = exc.ctx
    if ctx is None or ctx.command.get_help_option(ctx) is None:
        return f"coordkit: {text}"
    help_option = max(ctx.command.get_help_option_names(ctx), key=len)
    return f"coordkit: {text} (see '{ctx.command_path} {help_option}')"


@contextmanager
def exits_like_click() -> Iterator[None]:
    """What Click's standalone mode does with a failure escaping ``Command.main``, except
    that a usage error is one line (:func:`usage_line`) and Abort (Ctrl-C while Click
    itself was parsing) exits 130 like any other interruption. Exits the process."""
    try:
        yield
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        click.echo(usage_line(exc), err=True)
        sys.exit(exc.exit_code)  # 2 (ExitCode.USAGE), as Click has it
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(ExitCode.INTERRUPTED)
