"""The global credential options: ``--user``, ``--password-file``, ``--tls``, ``--ca``,
``--cert``, ``--key``. There is deliberately no ``--password``: a password on a command line
is visible to every user of the machine (``ps``) and lands in shell history. The library
also reads ``COORDKIT_USER``, ``COORDKIT_PASSWORD[_FILE]``, ``COORDKIT_CA/CERT/KEY``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["credential_options", "credentials_from"]

F = TypeVar("F", bound=Callable[..., Any])
_FILE = click.Path(exists=True, dir_okay=False, readable=True)
_OPTIONS = (
    click.option(
        "--user",
        metavar="NAME",
        help="User to authenticate as (etcd user, ZooKeeper digest "
        "user; also user@host in the URL). Default: $COORDKIT_USER.",
    ),
    click.option(
        "--password-file",
        type=_FILE,
        metavar="FILE",
        help="File holding the user's password (never give a password as an argument). "
        "Default: $COORDKIT_PASSWORD_FILE.",
    ),
    click.option(
        "--tls/--no-tls",
        "tls",
        default=None,
        help="Talk TLS (implied by etcds://, --ca, --cert, "
        "--key); without --ca the system's CA store checks the server.",
    ),
    click.option(
        "--ca",
        type=_FILE,
        metavar="FILE",
        help="CA bundle (PEM) for the servers' certificates. Default: $COORDKIT_CA.",
    ),
    click.option(
        "--cert",
        type=_FILE,
        metavar="FILE",
        help="Client certificate (PEM) for mutual TLS. Default: $COORDKIT_CERT.",
    ),
    click.option(
        "--key",
        "key_file",
        type=_FILE,
        metavar="FILE",
        help="Private key (PEM) of --cert. Default: $COORDKIT_KEY.",
    ),
)


def credential_options(command: F) -> F:
    """Add the credential options to ``command``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def credentials_from(
    user: str | None,
    password_file: str | None,
    tls: bool | None,
    ca: str | None,
    cert: str | None,
    key_file: str | None,
) -> dict[str, Any]:
    """``connect()`` keywords for what the command line gave (the rest: URL, environment)."""
    import coordkit

    given: dict[str, Any] = {"user": user, "password_file": password_file}
    if ca or cert or key_file:
        given["tls"] = coordkit.TLS(ca=ca, cert=cert, key=key_file) if tls is not False else False
    elif tls is not None:
        given["tls"] = tls
    return {name: value for name, value in given.items() if value is not None}
