"""What ``coordkit lock`` and ``coordkit elect`` share: waiting to win without losing the
signals, holding until told to stop, and running a command for as long as ownership lasts.

Signals only set a flag (the watch command does the same): the main thread keeps control,
so the lock is released or the leadership resigned before the process exits (or, when
that is impossible, the session is ended, which frees them), and nobody sees a traceback.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Protocol

import click

from coordkit import CoordkitError
from coordkit.backends.contender_queue import Contender

from ._child import start_guarded
from ._seconds import WAIT_SECONDS
from ._waiting import WaitProgress
from .errors import CliError, ExitCode
from .output import Output

__all__ = [
    "Held",
    "LossReport",
    "Signals",
    "catching_signals",
    "chosen_wait",
    "hold_until_stopped",
    "holder_note",
    "run_while_held",
    "ttl_option",
    "wait_option",
    "wait_to_win",
]

# Bounds how late a signal, a loss or the command's end is noticed.
_POLL_SECONDS = 0.2
# ... and while a command runs (a loss is seen at the ownership deadline in any case).
_CHILD_POLL_SECONDS = 0.05
# How long a command has to exit after SIGTERM before it is killed, once ownership is lost.
GRACE_SECONDS = 5.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


ttl_option = click.option(
    "--ttl", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
    help="Session TTL: how long the servers keep what this process holds after it stops "
         "answering (a crash, a pause). Default: the URL's ttl, else 10.")


def wait_option(gives_up: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--wait SECONDS`` (parameter ``wait``), and the deprecated ``--timeout`` it replaces.

    ``--wait`` bounds only the wait to win; the global ``--timeout`` (before the command)
    bounds each operation, as in every other command. ``lock --timeout`` still means
    ``--wait``, says so on stderr, and is hidden from the help.
    """
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        command = click.option(
            "--timeout", "deprecated_wait", type=WAIT_SECONDS, metavar="SECONDS", hidden=True,
            callback=_warn_deprecated_wait)(command)
        return click.option(
            "--wait", "wait", type=WAIT_SECONDS, metavar="SECONDS",
            help=f"How long to wait {gives_up} before giving up (exit {ExitCode.NOT_WON.value}). "
                 "Default: wait forever. The global --timeout bounds each request to the servers, "
                 "not this wait.")(command)
    return decorate


def _warn_deprecated_wait(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None:
        Output.note(f"`{ctx.command_path} --timeout` is deprecated: it means --wait (how long to wait); "
                    f"the global `coordkit --timeout` bounds each operation")
    return value


def chosen_wait(wait: float | None, deprecated_wait: float | None) -> float | None:
    """The wait asked for with --wait or the deprecated --timeout; a usage error if both."""
    if wait is not None and deprecated_wait is not None:
        raise click.UsageError("--timeout is the deprecated name of --wait: give only --wait")
    return wait if wait is not None else deprecated_wait


class Held(Protocol):
    """A lock or an election, as far as holding goes."""

    @property
    def lost(self) -> threading.Event: ...

    def on_lost(self, callback: Callable[[str], None]) -> None: ...

    def contenders(self) -> list[Contender]: ...


class Signals:
    """SIGINT and SIGTERM as a flag plus a list of the signals not yet passed on."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self._pending: queue.SimpleQueue[int] = queue.SimpleQueue()

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self._pending.put(signum)
        self.stop.set()

    def take(self) -> list[int]:
        """The signals received since the last call, in order."""
        taken = []
        while not self._pending.empty():
            taken.append(self._pending.get_nowait())
        return taken


@contextmanager
def catching_signals() -> Iterator[Signals]:
    """Catch SIGINT and SIGTERM into a :class:`Signals` for the ``with`` block, only in the
    main thread (an embedding program that runs the CLI elsewhere must stop it itself)."""
    signals = Signals()
    previous = {}
    try:
        for signum in _STOP_SIGNALS:
            previous[signum] = signal.signal(signum, signals.handle)
    except ValueError:
        pass  # not the main thread
    try:
        yield signals
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


class LossReport:
    """Remembers why ownership was lost, for the one-line message."""

    def __init__(self, held: Held, what: str) -> None:
        self.what = what
        self.lost = held.lost
        self.reason = ""
        held.on_lost(self._record)

    def _record(self, reason: str) -> None:
        self.reason = reason

    def failure(self, when: str = "", then: str = "") -> click.exceptions.Exit:
        """Say at once what was lost (closing the session may take a while when the servers
        are out of reach) and return the exit to raise."""
        why = self.reason or "the session ended"
        Output.note(f"{self.what} lost{when} ({why}){then}")
        return click.exceptions.Exit(ExitCode.SESSION_LOST)


def wait_to_win(attempt: Callable[[], bool], signals: Signals, what: str,
                progress: WaitProgress | None = None) -> bool:
    """Run the blocking ``attempt`` (an acquire or a campaign) until it returns, watching
    for signals meanwhile. Returns its result, re-raises its exception. ``progress`` (the
    waiting line on a terminal) is stopped and erased before this returns or raises.

    The attempt runs on a daemon thread because a waiting contender has no way to be
    woken: on a signal this returns at once with exit code 130, and closing the client
    (which Click does next) ends the session, so the contender key vanishes with it.
    """
    results: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    def run() -> None:
        try:
            results.put((True, attempt()))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            results.put((False, exc))

    threading.Thread(target=run, name="coordkit-contend", daemon=True).start()
    try:
        finished, value = _first_result(results, signals, what, progress)
    finally:
        if progress is not None:
            progress.stop()
    if finished:
        return bool(value)
    assert isinstance(value, BaseException)
    raise value


def _first_result(results: queue.SimpleQueue[tuple[bool, object]], signals: Signals, what: str,
                  progress: WaitProgress | None) -> tuple[bool, object]:
    while True:
        try:
            return results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if signals.stop.is_set():
                if progress is not None:
                    progress.stop()  # erase the waiting line before the message
                Output.note(f"interrupted while waiting for {what}")
                raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


def holder_note(handle: Held) -> str:
    """``: held by KEY`` naming the current holder, for a timeout message; ``""`` if it
    cannot be read (the message is still right without it). The queue is the handle's own,
    so it is the one the wait was in, whatever the recipe's key layout."""
    try:
        contenders = handle.contenders()
    except CoordkitError:
        return ""
    return f": held by {contenders[0].key}" if contenders else ""


def hold_until_stopped(loss: LossReport, signals: Signals) -> None:
    """Wait for SIGINT or SIGTERM. Exits 5 if ownership is lost first."""
    while not signals.stop.is_set():
        if loss.lost.wait(_POLL_SECONDS):  # returns at the ownership deadline, by the clock
            raise loss.failure()


def run_while_held(command: Sequence[str], env: Mapping[str, str], loss: LossReport,
                   signals: Signals) -> int:
    """Run ``command`` with ``env`` added to this process's environment; return its exit
    status (128 + N if signal N ended it, as shells report it).

    SIGINT and SIGTERM received meanwhile are passed on to the command; if this process is
    killed, the kernel kills the command (Linux, see :mod:`._child`). If ownership is
    lost while it runs, the command gets SIGTERM, then SIGKILL after GRACE_SECONDS, and
    this exits 5; also when the loss is noticed just as the command ends, since part of its
    work may then have run without the lock. Ownership is checked by the clock just before
    the command starts (a pause between winning and starting must not run it unguarded)
    and while it runs (the command is told at the ownership deadline, not after a poll).
    """
    if loss.lost.is_set():
        raise loss.failure(" before the command started")
    try:
        proc = start_guarded(command, {**os.environ, **env})
    except FileNotFoundError:
        raise CliError(f"{command[0]}: command not found", ExitCode.COMMAND_NOT_FOUND) from None
    except (OSError, subprocess.SubprocessError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CliError(f"cannot run {command[0]}: {reason}", ExitCode.CANNOT_RUN) from None
    while True:
        returncode = proc.poll()
        if returncode is not None:
            break
        for signum in signals.take():
            proc.send_signal(signum)
        if loss.lost.wait(_CHILD_POLL_SECONDS):
            failure = loss.failure(" while the command ran", "; terminating the command")
            _terminate(proc)
            raise failure
    if loss.lost.is_set():
        raise loss.failure(" before the command ended")
    return 128 - returncode if returncode < 0 else returncode


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
