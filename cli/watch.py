"""``coordkit watch``: stream changes until Ctrl-C or SIGTERM."""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from coordkit import SessionEvent, SessionState, WatchHandle

from ._watch_exec import ON_FAILURE, Handler
from .context import CliContext, pass_cli
from .output import Output, event_fields, event_line

__all__ = ["watch"]

# How long one wait for an event lasts; bounds how late a stop request is noticed even if
# the signal lands between the check and the wait.
_POLL_SECONDS = 0.25
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.command("watch")
@click.argument("path")
@click.option(
    "-r", "--recursive", is_flag=True, help="Watch every key below PATH instead of the key PATH itself."
)
@click.option(
    "--exec",
    "exec_command",
    metavar="CMD",
    help="Run CMD (split as a shell would, run without one) for each change instead of printing it.",
)
@click.option(
    "--on-failure",
    type=click.Choice(ON_FAILURE),
    default="continue",
    show_default=True,
    help="--exec: when CMD exits non-zero, go on, or stop with its status.",
)
@pass_cli
def watch(cli: CliContext, path: str, recursive: bool, exec_command: str | None, on_failure: str) -> None:
    """Print every change of the key PATH (with -r, of the keys below PATH) as it happens.

    One line per change, `PUT /a/b = value` or `DELETE /a/b`; --json prints one object
    per line (type, key, revision, and for a put value, encoding, version, revisions; for
    a key that is not UTF-8, key_base64 with its exact bytes, as `ls` does).
    Only changes made after the watch starts are shown. Runs until Ctrl-C or SIGTERM,
    then exits 0; the watch survives reconnections, which are reported on stderr.

    \b
    --exec CMD runs CMD once per change, in order and one at a time (changes meanwhile wait
    their turn), with COORDKIT_WATCH_TYPE (put, delete), COORDKIT_WATCH_KEY and
    COORDKIT_WATCH_REVISION in its environment and the change as one JSON object (as
    --json prints it) on its stdin. A failing CMD is reported on stderr and the watch goes
    on, or with --on-failure stop exits with CMD's status; a CMD that cannot be run exits
    127 (not found) or 126. Ctrl-C or SIGTERM is passed on to a running CMD.
      coordkit watch -r /config/shop --exec './reload.sh --quick'
    """
    if not recursive and path.strip("/") == "":
        raise click.UsageError("'/' is not a key; use `watch -r /` to watch every key")
    command = _command(exec_command)
    client = cli.client
    with _stop_requested() as stop, client.watch(path, recursive=recursive) as handle:
        client.add_listener(_report_connection)
        _announce(path, recursive)
        _stream(handle, cli.out, stop, Handler(command, on_failure, stop) if command else None)


def _command(text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        command = shlex.split(text)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}: {text!r}", param_hint="--exec") from None
    if not command:
        raise click.BadParameter("an empty command", param_hint="--exec")
    return command


def _stream(handle: WatchHandle, out: Output, stop: threading.Event, handler: Handler | None) -> None:
    while not stop.is_set():
        event = handle.get(timeout=_POLL_SECONDS)
        if event is None:
            continue
        if handler is not None:
            handler.run(event)
        elif out.json:
            out.record(event_fields(event))
        else:
            out.line(event_line(event))


@contextmanager
def _stop_requested() -> Iterator[threading.Event]:
    """An event set by the first SIGINT or SIGTERM; a second one interrupts at once.

    A flag rather than an exception, so that the watch and the client are closed in
    order whatever line the signal lands on.
    """
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {}
    try:
        for signum in _STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:
        pass  # not the main thread (an embedding program): it must stop us itself
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _report_connection(event: SessionEvent) -> None:
    # A watch can run for days: say why nothing arrives while the servers are away.
    if event.state is SessionState.SUSPENDED:
        Output.note(f"lost contact with the servers ({event.reason}); still watching")
    elif event.state is SessionState.LOST:
        Output.note(f"session lost ({event.reason}); reconnecting")
    elif event.state is SessionState.CONNECTED and event.previous is not SessionState.CONNECTED:
        Output.note("connected again; changes made meanwhile follow")


def _announce(path: str, recursive: bool) -> None:
    if sys.stderr.isatty():
        what = f"keys below {path}" if recursive else path
        Output.note(f"watching {what} (Ctrl-C to stop)")
