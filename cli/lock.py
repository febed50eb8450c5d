"""``coordkit lock``: hold a distributed lock, or run a command under it."""

from __future__ import annotations

import sys

import click

from coordkit import Lock, Semaphore

from ._hold_options import chosen_wait, ttl_option, wait_option
from ._ownership import (
    LossReport,
    give_up,
    give_up_quietly,
    hold_until_stopped,
    holder_note,
    run_while_held,
    wait_to_win,
)
from ._signals import Signals, catching_signals
from ._waiting_line import WaitProgress
from .context import CliContext, pass_cli
from .errors import CliError
from .exit_codes import ExitCode

__all__ = ["lock"]


@click.command("lock")
@ttl_option
@wait_option("for the lock")
@click.option(
    "-n",
    "--limit",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="A semaphore: at most N holders at a time (use one N for one NAME).",
)
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_cli
def lock(
    cli: CliContext,
    ttl: float | None,
    wait: float | None,
    deprecated_wait: float | None,
    limit: int,
    name: str,
    command: tuple[str, ...],
) -> None:
    """Acquire the lock NAME, first come first served, and hold it.

    \b
    Without COMMAND: print the lock's contender key once acquired, hold the lock until
    SIGINT or SIGTERM, then release it and exit 0.
    With COMMAND (after "--"): run it while holding the lock, with COORDKIT_LOCK_KEY and
    COORDKIT_LOCK_TOKEN (the fencing token, a decimal integer) in its environment; release
    the lock when it ends and exit with its status. Its stdout is the command's alone.
    SIGINT and SIGTERM are passed on to the command.

    \b
    The lock counts as lost as soon as the session is in doubt (the servers stop answering
    heartbeats, which come every TTL/3): the command then gets SIGTERM (SIGKILL 5 s later)
    and coordkit exits 5.
    While it waits on a terminal, stderr shows who holds the lock and how many are ahead.
    Waiting longer than --wait exits 6; the global --timeout bounds each request to the
    servers (and connecting), never the wait. The etcd layout is etcdctl's, so `coordkit lock`
    and `etcdctl lock` exclude each other; on ZooKeeper the layout is Curator's
    InterProcessMutex, and holders of kazoo's Lock are waited for too.

    \b
    With -n N, a semaphore (consul's `lock -n`): at most N holders of NAME at a time, first
    come first served; COORDKIT_LOCK_LIMIT says N. Give every holder of a NAME the same N.

    \b
    Examples:
      coordkit lock /jobs/nightly -- ./nightly.sh
      coordkit lock -n 3 /jobs/render -- ./render.sh
      coordkit lock --wait 10 /jobs/nightly -- sh -c 'echo "token $COORDKIT_LOCK_TOKEN"'
    """
    wait_timeout = chosen_wait(wait, deprecated_wait)
    cli.ttl = ttl
    handle: Lock | Semaphore = cli.client.lock(name) if limit == 1 else cli.client.semaphore(name, limit)
    what = f"lock {handle.name}" if limit == 1 else f"semaphore {handle.name} (limit {limit})"
    loss = LossReport(handle, what)
    with catching_signals() as signals:
        progress = WaitProgress.on_a_terminal(cli.client, handle, what)
        if not wait_to_win(lambda: handle.acquire(timeout=wait_timeout), signals, what, progress):
            raise CliError(
                f"{what} not acquired within {wait_timeout:g}s{holder_note(handle)}",
                ExitCode.NOT_WON,
            )
        try:
            status = _use(cli, handle, command, loss, signals)
        except BaseException:
            give_up_quietly(handle, handle.release)
            raise
        give_up(handle.release)
    raise click.exceptions.Exit(status)


def _use(
    cli: CliContext, handle: Lock | Semaphore, command: tuple[str, ...], loss: LossReport, signals: Signals
) -> int:
    if command:
        env = {"COORDKIT_LOCK_KEY": handle.key or "", "COORDKIT_LOCK_TOKEN": str(handle.token)}
        if isinstance(handle, Semaphore):
            env["COORDKIT_LOCK_LIMIT"] = str(handle.limit)
        return run_while_held(command, env, loss, signals)
    if cli.json:
        cli.out.record({"key": handle.key, "token": handle.token})
    else:
        cli.out.line(handle.key or "")
    if sys.stderr.isatty():
        cli.out.note(f"holding lock {handle.name} (token {handle.token}); Ctrl-C releases it")
    hold_until_stopped(loss, signals)
    return 0
