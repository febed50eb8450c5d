"""``coordkit ui``: serve the live web view of the store (coordkit.ui, ``pip install coordkit[ui]``)."""

from __future__ import annotations

import click

from .context import CliContext, pass_cli
from .errors import CliError
from .exit_codes import ExitCode

__all__ = ["ui"]


@click.command("ui")
@click.option(
    "--bind",
    default="127.0.0.1:8470",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to serve. A non-loopback address needs --allow-remote.",
)
@click.option(
    "--write",
    is_flag=True,
    help="Allow changes (drain an instance, set a config value, delete a key), each confirmed.",
)
@click.option("--allow-remote", is_flag=True, help="Allow a --bind address other machines can reach.")
@click.option(
    "--services-base",
    default="/services",
    show_default=True,
    metavar="PATH",
    help="The registry's root path.",
)
@click.option(
    "--config-base",
    default="/config",
    show_default=True,
    metavar="PATH",
    help="The configuration's root path.",
)
@pass_cli
def ui(
    cli: CliContext, bind: str, write: bool, allow_remote: bool, services_base: str, config_base: str
) -> None:
    """Serve a live web view of the store: overview, locks and semaphores, elections,
    services, config and keys, each page at its own URL and kept current by a watch.

    Read-only unless --write; a session is opened (it holds nothing) so that a lost connection
    to the store shows on the pages. Uses --url and the security options as
    every command does; the password never reaches the page. Runs until Ctrl-C or SIGTERM.
    """
    try:
        from coordkit.ui import check_bind, parse_bind, serve
    except ImportError as exc:
        raise CliError(
            f"coordkit ui needs its extra: pip install 'coordkit[ui]' ({exc})", ExitCode.USAGE
        ) from None
    host, port = parse_bind(bind)
    check_bind(host, allow_remote=allow_remote)
    # With a session even when read-only: a session-less client is CONNECTED until closed, so
    # its pages could not show a lost connection (the session owns nothing here).
    client = cli.client
    shown = f"[{host}]" if ":" in host else host
    cli.out.note(f"coordkit ui on http://{shown}:{port}/ ({'read-write' if write else 'read-only'})")
    serve(
        client,
        host=host,
        port=port,
        write=write,
        allow_remote=allow_remote,
        services_base=services_base,
        config_base=config_base,
    )
