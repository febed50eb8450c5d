"""``coordkit elect``: campaign for leadership, run a command as leader, or follow who leads."""

from __future__ import annotations

import sys
import threading

import click

from coordkit import BackendUnavailableError, Election, Leader

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
from .output import Output, preview

__all__ = ["elect"]

_POLL_SECONDS = 0.2


@click.command("elect")
@ttl_option
@wait_option("to be elected")
@click.option(
    "-l",
    "--listen",
    is_flag=True,
    help="Do not campaign: print the current leader's proposal and every later change.",
)
@click.argument("name")
@click.argument("proposal", required=False)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_cli
def elect(
    cli: CliContext,
    ttl: float | None,
    wait: float | None,
    deprecated_wait: float | None,
    listen: bool,
    name: str,
    proposal: str | None,
    command: tuple[str, ...],
) -> None:
    """Campaign to lead NAME with PROPOSAL (a value for the others to read), or --listen.

    \b
    Campaign: once elected, print the leader key and the proposal, each on its own line
    (--json: one object with key, proposal, token), lead until SIGINT or SIGTERM, then
    resign and exit 0. Nothing is printed on stdout before winning.
    With COMMAND (after "--"): run it as leader, with COORDKIT_LEADER_KEY and
    COORDKIT_LEADER_TOKEN (the fencing token, a decimal integer) in its environment, and
    resign when it ends, exiting with its status. Leadership counts as lost as soon as the
    session is in doubt: the command then gets SIGTERM (SIGKILL 5 s later) and coordkit
    exits 5. While it waits on a terminal, stderr shows who leads and how many are ahead.
    Not elected within --wait: exit 6; the global --timeout bounds each request
    to the servers (and connecting), never the wait.

    \b
    --listen: print the proposal of the current leader, then of every new leader or
    proclamation, one line each, until SIGINT or SIGTERM (--json: one object per line with
    key, proposal, token). The leader is re-read on every change, so a leadership that ends
    before the re-read is not shown (as with `etcdctl elect -l`). The etcd layout is
    etcdctl's: `etcdctl elect` candidates and `coordkit elect` candidates see one another.

    \b
    Examples:
      coordkit elect /svc/leader "$(hostname)" -- ./serve-as-primary
      coordkit elect --listen /svc/leader
    """
    wait_timeout = chosen_wait(wait, deprecated_wait)
    cli.ttl = ttl
    if listen:
        if proposal is not None or command:
            raise click.UsageError("--listen takes only NAME: it does not campaign")
        _listen(cli, cli.client.election(name))
        return
    if proposal is None:
        raise click.UsageError("missing PROPOSAL (or use --listen to follow the leader)")
    election = cli.client.election(name)
    raise click.exceptions.Exit(_campaign(cli, election, proposal, wait_timeout, command))


def _campaign(
    cli: CliContext, election: Election, proposal: str, wait_timeout: float | None, command: tuple[str, ...]
) -> int:
    what = f"leadership of {election.name}"
    loss = LossReport(election, what)
    with catching_signals() as signals:
        progress = WaitProgress.on_a_terminal(cli.client, election, what)
        if not wait_to_win(
            lambda: election.campaign(proposal, timeout=wait_timeout), signals, what, progress
        ):
            raise CliError(
                f"not elected leader of {election.name} within {wait_timeout:g}s{holder_note(election)}",
                ExitCode.NOT_WON,
            )
        try:
            status = _lead(cli, election, proposal, command, loss, signals)
        except BaseException:
            give_up_quietly(election, election.resign)
            raise
        give_up(election.resign)
    return status


def _lead(
    cli: CliContext,
    election: Election,
    proposal: str,
    command: tuple[str, ...],
    loss: LossReport,
    signals: Signals,
) -> int:
    if command:
        env = {"COORDKIT_LEADER_KEY": election.key or "", "COORDKIT_LEADER_TOKEN": str(election.token)}
        return run_while_held(command, env, loss, signals)
    if cli.json:
        cli.out.record({"key": election.key, "proposal": proposal, "token": election.token})
    else:
        cli.out.line(election.key or "")
        cli.out.line(proposal)
    if sys.stderr.isatty():
        cli.out.note(f"leading {election.name} (token {election.token}); Ctrl-C resigns")
    hold_until_stopped(loss, signals)
    return 0


# --- listen ----------------------------------------------------------------------------
def _listen(cli: CliContext, election: Election) -> None:
    """Re-read the leader whenever anything under NAME changes; print it when it differs."""
    changed = threading.Event()
    last: Leader | None = None
    unreachable = False
    stale = True
    with (
        catching_signals() as signals,
        cli.client.watch(election.name, lambda event: changed.set(), recursive=True),
    ):
        while not signals.stop.is_set():
            if stale:
                changed.clear()  # before the read, so that no change slips between the two
                try:
                    current = election.leader()
                except BackendUnavailableError as exc:
                    # A listener runs for days: ride out an outage, as `watch` does.
                    if not unreachable:
                        Output.note(f"cannot read the leader ({exc}); retrying")
                    unreachable = True
                    signals.stop.wait(_POLL_SECONDS)
                    continue
                unreachable = False
                if current is not None and current != last:
                    last = current
                    _show_leader(cli, current)
            stale = changed.wait(_POLL_SECONDS)


def _show_leader(cli: CliContext, leader: Leader) -> None:
    if cli.json:
        cli.out.record({"key": leader.key, "proposal": leader.proposal, "token": leader.token})
    else:
        # One line per leader even if a proposal holds a newline.
        cli.out.line(preview(leader.proposal.encode("utf-8"), limit=None) if leader.proposal else "")
