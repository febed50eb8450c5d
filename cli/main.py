"""The ``coordkit`` command: global options, the command group and the entry point."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

import coordkit

from ._credentials import credential_options, credentials_from
from .config import config
from .context import CliContext
from .dev import dev
from .elect import elect
from .errors import exits_like_click, translate_errors
from .kv import delete, get, ls, put
from .lock import lock
from .services import register, services
from .status import status
from .watch import watch

__all__ = ["cli", "main"]

_EPILOG = """\b
Exit codes:
  0    success (watch: also when stopped by Ctrl-C or SIGTERM)
  1    no such key, or another error
  2    bad usage, URL, option or key name
  3    conflict: key exists, other version, or has children
  4    no server answered within the timeout
  5    the session was lost (lock, elect: the lock or leadership was lost)
  6    lock, elect: not acquired or elected within --timeout
  8    authentication failed: wrong user or password, or credentials missing
  9    TLS failed: untrusted or mismatched server certificate, missing or expired
       client certificate, or TLS on one side only
  10   permission denied: the user's roles (etcd) or the node's ACL (ZooKeeper)
       do not allow the operation on that key
  130  interrupted
  lock and elect with a command exit with the command's status.
"""


class CoordkitGroup(click.Group):
    """A group whose commands' failures all pass through :func:`translate_errors`, and
    whose usage errors are one line (:func:`exits_like_click`), in a real process and
    under ``CliRunner`` alike."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        # Click's standalone mode prints its own four-line usage block, so run without it
        # and do the rest of its work (show, exit) in exits_like_click.
        with exits_like_click():
            code = super().main(args, prog_name, complete_var, False, **extra)
        # invoke() returns None, so an int is the code of a click Exit (--help, ctx.exit(n)).
        sys.exit(code if isinstance(code, int) else 0)

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


@click.group("coordkit", cls=CoordkitGroup, epilog=_EPILOG,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="COORDKIT_URL", metavar="URL",
              help="The store: etcd://host:port[,host:port][/namespace], zk://host:port[/namespace] "
                   "or memory://[name]. Default: $COORDKIT_URL, else a running `coordkit dev` server.")
@click.option("--json", "json_output", is_flag=True,
              help="Print JSON (one document; one object per line for watch).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Per-operation timeout, which also bounds connecting. Default: the URL's, else 5.")
@credential_options
@click.version_option(coordkit.__version__, "--version", prog_name="coordkit",
                      message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, url: str | None, json_output: bool, timeout: float | None,
        user: str | None, password_file: str | None, tls: bool | None, ca: str | None,
        cert: str | None, key_file: str | None) -> None:
    """Read, write and watch keys in ZooKeeper, etcd or an in-process memory store.

    \b
    Examples:
      coordkit --url etcd://127.0.0.1:2379 ls -r /app
      coordkit --url zk://127.0.0.1:2181 put /app/timeout 5
      echo -n secret | coordkit put /app/token -
      coordkit --json get /app/timeout
      coordkit watch -r /app
    """
    ctx.obj = CliContext(ctx, url=url, json=json_output, timeout=timeout,
                         security=credentials_from(user, password_file, tls, ca, cert, key_file))


for _command in (ls, get, put, delete, watch, status, lock, elect, services, register, config, dev):
    cli.add_command(_command)


def _configure_logging() -> None:
    """Keep the client libraries' own log lines (kazoo's "Connection dropped", ...) off
    the terminal: the one-line error already says what failed. COORDKIT_DEBUG=1 shows them."""
    if os.environ.get("COORDKIT_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def main() -> None:
    """Console-script entry point."""
    _configure_logging()
    cli(prog_name="coordkit")
