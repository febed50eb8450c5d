"""The ``coordkit`` command: global options, the command group and the entry point."""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

import coordkit

from ._credentials import credential_options, credentials_from
from .context import CliContext
from .errors import interrupts_exit_130, translate_errors
from .exit_codes import exit_code_table
from .logs import configure_logging, verbosity

__all__ = ["cli", "main"]


# Each command's module, imported only when the command runs (or --help lists them): `get`
# then never imports the dev harness, the recipes' or the services' commands.
_COMMANDS = {
    "ls": ("kv", "ls"),
    "get": ("kv", "get"),
    "put": ("kv", "put"),
    "del": ("kv", "delete"),
    "watch": ("watch", "watch"),
    "status": ("status", "status"),
    "lock": ("lock", "lock"),
    "elect": ("elect", "elect"),
    "services": ("services", "services"),
    "register": ("services", "register"),
    "maint": ("maint", "maint"),
    "config": ("config", "config"),
    "dev": ("dev", "dev"),
    "ui": ("ui", "ui"),
    "completion": ("completion", "completion"),
}
_PLAIN = {"completion"}  # prints a script: no output options, no connection


class CoordkitGroup(click.Group):
    """A group whose failures all leave as Click exceptions carrying their exit code, for
    Click's standalone mode to show and exit with (in a real process and under ``CliRunner``
    alike): a command's through :func:`.translate_errors`, the parsing of the global options'
    through :func:`.interrupts_exit_130`."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        # Parsing the global options runs before invoke(): its usage errors and a Ctrl-C
        # (Click would say "Aborted!" and exit 1) need the same treatment as a command's.
        with interrupts_exit_130():
            return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, attr = _COMMANDS[cmd_name]
            command: click.Command = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
            if cmd_name not in _PLAIN:
                accept_output_options_anywhere(command)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> None:
        def endpoints() -> tuple[str, ...]:
            obj = ctx.find_object(CliContext)
            return obj.endpoints() if obj is not None else ()

        with translate_errors(endpoints):
            try:
                super().invoke(ctx)
            finally:
                # Close the client here rather than after main() returns, so that a failure
                # while ending the session is reported like any other.
                ctx.close()


@click.group(
    "coordkit",
    cls=CoordkitGroup,
    epilog=exit_code_table(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--url",
    envvar="COORDKIT_URL",
    metavar="URL",
    help="The store: etcd://host:port[,host:port][/namespace], zk://host:port[/namespace] "
    "or memory://[name]. Default: $COORDKIT_URL, else a running `coordkit dev` server.",
)
@click.option(
    "--json", "json_output", is_flag=True, help="Print JSON (one document; one object per line for watch)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Per-operation timeout, which also bounds connecting. Default: the URL's, else 5. "
    "It does not bound how long lock and elect wait to win: that is their --wait.",
)
@click.option(
    "-v",
    "--verbose",
    count=True,
    expose_value=False,
    is_eager=True,
    callback=verbosity,
    help="Log more on stderr: -v each connection drop and return, -vv everything "
    "(as COORDKIT_DEBUG=1). Default: warnings only.",
)
@credential_options
@click.version_option(coordkit.__version__, "--version", prog_name="coordkit", message="%(prog)s %(version)s")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str | None,
    json_output: bool,
    timeout: float | None,
    user: str | None,
    password_file: str | None,
    tls: bool | None,
    ca: str | None,
    cert: str | None,
    key_file: str | None,
) -> None:
    """Read, write and watch keys in ZooKeeper, etcd or an in-process memory store.

    \b
    Examples:
      coordkit --url etcd://127.0.0.1:2379 ls -r /app
      coordkit --url zk://127.0.0.1:2181 put /app/timeout 5
      echo -n secret | coordkit put /app/token -
      coordkit --json get /app/timeout
      coordkit watch -r /app
    """
    ctx.obj = CliContext(
        ctx,
        url=url,
        json=json_output,
        timeout=timeout,
        security=credentials_from(user, password_file, tls, ca, cert, key_file),
    )


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    obj = ctx.find_object(CliContext)
    if value and obj is not None:
        obj.json = True


def accept_output_options_anywhere(command: click.Command) -> None:
    """Give every subcommand the global --json too, so that it may follow the command
    (`coordkit get --json K`), as etcdctl takes `-w json` anywhere. Arguments after `--`
    are never options: they belong to the command that lock, elect and register run."""
    if isinstance(command, click.Group):  # the group itself too: `coordkit config --json get APP`
        for sub in command.commands.values():
            accept_output_options_anywhere(sub)
    if any("--json" in param.opts for param in command.params):
        return  # `dev` commands have their own, meaning the same
    command.params.append(
        click.Option(
            ["--json"],
            is_flag=True,
            expose_value=False,
            callback=_set_json,
            help="Print JSON: the global --json, given after the command.",
        )
    )


def main() -> None:
    """Console-script entry point: warnings only on stderr until -v says more, then the
    group in Click's standalone mode, which exits with the command's :class:`.ExitCode`.
    The process ends when it returns (or raises): not for callers that go on running."""
    configure_logging()
    try:
        cli(prog_name="coordkit")
    finally:
        # The process ends now, and Python's last garbage collections would walk every object
        # the imports made (kazoo or gRPC and protobuf, Click, coordkit): some 20 ms of a
        # `get` that takes 150. Frozen, they are skipped. Everything is still released as
        # the modules are cleared; only cyclic garbage is left to the OS, by when the client
        # is closed (the root context closed it), stdout flushed and logging shut down.
        gc.freeze()
