"""``coordkit maint``: take an instance out of traffic, or put it back, from anywhere."""

from __future__ import annotations

import time

import click

from coordkit.discovery import DRAINING, UP

from .context import CliContext, pass_cli
from .services import base_option, instance_fields

__all__ = ["maint"]


@click.command("maint")
@click.argument("service")
@click.argument("instance_id", metavar="ID")
@click.option("--enable", "mode", flag_value="enable", help="Put the instance in maintenance (drained).")
@click.option("--disable", "mode", flag_value="disable", help="Take it out of maintenance (up again).")
@click.option("--reason", default="", help="Why, shown by `coordkit services` (with --enable).")
@base_option
@pass_cli
def maint(cli: CliContext, service: str, instance_id: str, mode: str | None, reason: str, base: str) -> None:
    """Put instance ID of SERVICE in maintenance (--enable: status draining, so balancers and
    service caches stop sending it new work, as consul's `maint -enable`) or back (--disable:
    status up). The instance stays registered by its own process, which keeps this status
    through its own later changes (its health checks included).

    \b
    Examples:
      coordkit maint payment-service pay-2 --enable --reason "kernel upgrade"
      coordkit maint payment-service pay-2 --disable

    Exits 1 if no such instance is registered.
    """
    if mode is None:
        raise click.UsageError("say --enable or --disable")
    status = DRAINING if mode == "enable" else UP
    reason = (reason or "maintenance") if status == DRAINING else ""
    changed = cli.client.set_status(service, instance_id, status, reason=reason, base=base)
    if cli.json:
        cli.out.document(instance_fields(changed, int(time.time() * 1000)))
    else:
        what = (
            f"in maintenance ({changed.status_reason})" if status == DRAINING else "out of maintenance (up)"
        )
        cli.out.line(f"{changed.name}/{changed.id} {changed.endpoint} {what}")
