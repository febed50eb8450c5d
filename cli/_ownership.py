"""Winning, holding and losing ownership (a lock, a leadership, a registration), as the
commands ``lock``, ``elect`` and ``register`` do it: waiting to win without losing the
signals, holding until told to stop, and running a command for as long as ownership lasts.

A loss is noticed at the ownership deadline, by the clock, and always exits 5
(:attr:`.ExitCode.SESSION_LOST`) after one line on stderr saying what was lost and why.
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import click

from coordkit import CoordkitError, OwnershipError
from coordkit.recipes import Contender

from ._guarded_child import start_guarded
from ._signals import Signals
from ._waiting_line import WaitProgress
from .errors import CliError
from .exit_codes import ExitCode
from .output import Output

__all__ = [
    "GRACE_SECONDS",
    "Held",
    "LossReport",
    "Queued",
    "give_up",
    "give_up_quietly",
    "hold_until_stopped",
    "holder_note",
    "run_while_held",
    "wait_to_win",
]

# Bounds how late a signal, a loss or the command's end is noticed.
_POLL_SECONDS = 0.2
# ... and while a command runs (a loss is seen at the ownership deadline in any case).
_CHILD_POLL_SECONDS = 0.05
# How long a command has to exit after SIGTERM before it is killed, once ownership is lost.
GRACE_SECONDS = 5.0


class Held(Protocol):
    """What can be lost: a lock, an election, a registration, as far as holding goes."""

    @property
    def lost(self) -> threading.Event: ...

    def on_lost(self, callback: Callable[[str], None]) -> None: ...


class Queued(Protocol):
    """A lock or an election, as far as its queue goes."""

    def contenders(self) -> list[Contender]: ...


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


def wait_to_win(
    attempt: Callable[[], bool], signals: Signals, what: str, progress: WaitProgress | None = None
) -> bool:
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


def _first_result(
    results: queue.SimpleQueue[tuple[bool, object]],
    signals: Signals,
    what: str,
    progress: WaitProgress | None,
) -> tuple[bool, object]:
    while True:
        try:
            return results.get(timeout=_POLL_SECONDS)
        except queue.Empty:
            if signals.stop.is_set():
                if progress is not None:
                    progress.stop()  # erase the waiting line before the message
                Output.note(f"interrupted while waiting for {what}")
                raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


def holder_note(handle: Queued) -> str:
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


def run_while_held(command: Sequence[str], env: Mapping[str, str], loss: LossReport, signals: Signals) -> int:
    """Run ``command`` with ``env`` added to this process's environment; return its exit
    status (128 + N if signal N ended it, as shells report it).

    SIGINT and SIGTERM received meanwhile are passed on to the command; if this process is
    killed, the kernel kills the command (Linux, see :mod:`._guarded_child`). If ownership is
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


def give_up(release: Callable[[], object]) -> None:
    """Release the lock or resign the leadership with ``release``. An OwnershipError there
    means that it was lost meanwhile: exit 5 (:attr:`.ExitCode.SESSION_LOST`) with its
    message, rather than the 1 that an OwnershipError elsewhere means."""
    try:
        release()
    except OwnershipError as exc:
        raise CliError(str(exc), ExitCode.SESSION_LOST) from None


def give_up_quietly(held: Held, release: Callable[[], object]) -> None:
    """Release or resign after something else failed, which is what will be reported: this
    is only tidying up, so its own failure is not. Skipped once ownership is lost: the
    servers are likely out of reach, and the session's end removes the key."""
    if held.lost.is_set():
        return
    with contextlib.suppress(CoordkitError):
        release()
