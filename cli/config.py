"""``coordkit config``: read, write, watch, import and export applications' settings.

Settings live under ``<base>/<app>/<key>`` as JSON text (see :mod:`coordkit.config`); these
commands read and write exactly what a service's ``client.config(app)`` sees.
"""

from __future__ import annotations

import json
import os
import queue
import sys
from collections.abc import Mapping
from typing import Any

import click

from coordkit import NotFoundError
from coordkit.config import (
    Config,
    ConfigChanges,
    ConfigSnapshot,
    ConfigValidationError,
    dump_text,
    file_format,
    parse_document,
    parse_value,
)

from .context import CliContext, pass_cli
from .errors import CliError
from .exit_codes import ExitCode
from .output import Output
from .watch import _report_connection, _stop_requested

__all__ = ["config"]

_POLL_SECONDS = 0.25  # how late a stop request may be noticed while no change arrives


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _open(cli: CliContext, app: str, *, live: bool = False, read_only: bool = False) -> Config[None]:
    base = click.get_current_context().meta.get("coordkit.config.base", "/config")
    client = cli.reader if read_only else cli.client  # reading opens no session
    return client.config(app, base=base, writable=True, live=live)


@click.group("config")
@click.option(
    "--base",
    default="/config",
    show_default=True,
    metavar="PATH",
    help="Where applications' settings live in the store.",
)
@click.pass_context
def config(ctx: click.Context, base: str) -> None:
    """Live application configuration: one JSON value per key under BASE/APP/.

    \b
    Examples:
      coordkit config set payments timeout 5
      coordkit config set payments features '{"fast_path": true}'
      coordkit config get payments timeout          # prints 5
      coordkit config watch payments
      coordkit config import payments settings.yaml --dry-run
    """
    ctx.meta["coordkit.config.base"] = base


# --- get / set / del ---------------------------------------------------------------------
def _no_settings(app: str, cfg: Config[None]) -> NotFoundError:
    """What reading an application without a single setting is: absence, like a missing key."""
    return NotFoundError(f"config {app!r} has no settings (nothing stored under {cfg.path})")


@config.command("get")
@click.argument("app")
@click.argument("key", required=False)
@pass_cli
def get(cli: CliContext, app: str, key: str | None) -> None:
    """Print the value of KEY as JSON, or every setting of APP.

    With KEY, the value alone: `5`, `"hello"`, `{"a": 1}`. Without KEY: one `key = value` line
    per setting. A missing KEY, or an APP with no settings at all, fails with exit code 1.
    A stored value that is not JSON (written by another tool) is never printed: exit code 1
    with the key named on stderr; without KEY the valid settings are printed first.
    --json prints {app, key, value, version, revision} for KEY, {app, revision, settings,
    invalid} for all (invalid: key -> what is wrong).
    """
    with _open(cli, app, read_only=True) as cfg:
        snapshot = cfg.snapshot()
        if key is None:
            if not snapshot.to_dict() and not snapshot.invalid:
                raise _no_settings(app, cfg)
            _print_all(cli, app, snapshot)
            return
        wanted = key.lstrip("/") + "/"  # the key itself, or an object stored above it
        _refuse_invalid(app, snapshot.invalid, [k for k in snapshot.invalid if wanted.startswith(k + "/")])
        value = snapshot[key]
        if cli.json:
            cli.out.document(
                {
                    "app": app,
                    "key": key,
                    "value": value,
                    "version": snapshot.key_version(key),
                    "revision": snapshot.version,
                }
            )
        else:
            cli.out.line(_show(value))


@config.command("set")
@click.argument("app")
@click.argument("key")
@click.argument("value")
@click.option(
    "--string",
    "as_string",
    is_flag=True,
    help="Store VALUE as a string even if it reads as JSON (e.g. the text 'true').",
)
@click.option(
    "--version",
    "expected_version",
    type=click.IntRange(min=0),
    metavar="N",
    help="Only if KEY is at version N (0: only if KEY is not set); exit 3 otherwise.",
)
@pass_cli
def set_(
    cli: CliContext, app: str, key: str, value: str, as_string: bool, expected_version: int | None
) -> None:
    """Set KEY of APP to VALUE.

    VALUE is read as JSON (numbers, true/false, null, "strings", [lists], {objects});
    anything else is stored as a string, so `set app name hello` stores "hello". A VALUE
    that starts with {, [ or " must be valid JSON (exit 2 otherwise), so that a typo in an
    object is not stored as text; --string stores VALUE as a string exactly as given. A
    VALUE that starts with "-" goes after "--". --json prints {app, key, value, version,
    revision}.
    """
    parsed = value if as_string else _parse_value(value)
    with _open(cli, app) as cfg:
        revision = cfg.set(key, parsed, version=expected_version)
        cli.warn_if_in_process(f"setting {key!r} of {app!r}")
        if cli.json:
            cli.out.document(
                {
                    "app": app,
                    "key": key,
                    "value": parsed,
                    "version": cfg.snapshot().key_version(key),
                    "revision": revision,
                }
            )


def _print_all(cli: CliContext, app: str, snapshot: ConfigSnapshot) -> None:
    invalid = snapshot.invalid
    if cli.json:
        cli.out.document(
            {
                "app": app,
                "revision": snapshot.version,
                "settings": snapshot.to_dict(),
                "invalid": {k: bad.problem for k, bad in sorted(invalid.items())},
            }
        )
    else:
        for name, value in snapshot.to_dict().items():
            cli.out.line(f"{name} = {_show(value)}")
    _refuse_invalid(app, invalid, sorted(invalid))


def _refuse_invalid(app: str, invalid: Mapping[str, Any], keys: list[str]) -> None:
    """CliError (exit 1) naming ``keys``, whose stored values are not JSON, if there are any."""
    if not keys:
        return
    if len(keys) == 1:
        raise CliError(
            f"config {app!r}: {keys[0]}: {invalid[keys[0]].problem}; set it again "
            f"(coordkit config set {app} {keys[0]} VALUE)",
            ExitCode.NOT_FOUND,
        )
    raise CliError(
        f"config {app!r}: {', '.join(keys)} hold stored values that are not valid JSON; "
        "set them again (coordkit config set)",
        ExitCode.NOT_FOUND,
    )


def _parse_value(text: str) -> Any:
    """``text`` as the store would read it (coordkit.config.parse_value): text that is
    evidently meant as JSON must be JSON, or it is a bad VALUE."""
    try:
        return parse_value(text)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r} is {exc}; to store it as text, use --string", param_hint="'VALUE'"
        ) from None


@config.command("del")
@click.argument("app")
@click.argument("key")
@click.option(
    "--version",
    "expected_version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only if KEY is at version N; exit 3 otherwise.",
)
@click.option("-f", "--force", is_flag=True, help="Succeed even if KEY is not set.")
@pass_cli
def delete(cli: CliContext, app: str, key: str, expected_version: int | None, force: bool) -> None:
    """Remove KEY from APP's stored settings (exit 1 if it is not set, unless -f).

    --json prints {app, key, deleted}.
    """
    with _open(cli, app) as cfg:
        deleted = cfg.delete(key, version=expected_version)
    if not deleted and not force:
        raise NotFoundError(f"config {app!r} has no stored setting {key!r}")
    if cli.json:
        cli.out.document({"app": app, "key": key, "deleted": deleted})


# --- watch --------------------------------------------------------------------------------
def _change_lines(changes: ConfigChanges) -> list[str]:
    lines = []
    for key, (old, new) in changes.items():
        kind = changes.kind(key)
        if kind == "added":
            lines.append(f"{key} = {_show(new)}  (new)")
        elif kind == "removed":
            lines.append(f"{key} removed  (was {_show(old)})")
        else:
            lines.append(f"{key} = {_show(new)}  (was {_show(old)})")
    return lines


def _change_record(app: str, changes: ConfigChanges) -> dict[str, Any]:
    return {
        "app": app,
        "revision": changes.version,
        "changes": [
            {"key": key, "type": changes.kind(key), "old": old, "new": new}
            for key, (old, new) in changes.items()
        ],
    }


@config.command("watch")
@click.argument("app")
@pass_cli
def watch(cli: CliContext, app: str) -> None:
    """Print every change of APP's settings as it happens, until Ctrl-C or SIGTERM (exit 0).

    One line per changed key: `key = value  (was old)`, `key = value  (new)` or
    `key removed  (was old)`; the keys of one atomic change are printed together. --json
    prints one object per change: {app, revision, changes: [{key, type, old, new}]}.
    Changes made while the servers are away are printed once they are back. A stored value
    that is not JSON is named on stderr (the watch goes on; readers keep its last valid value).
    """
    # One queue for both, so that stdout and stderr tell things in the order they happened.
    events: queue.SimpleQueue[ConfigChanges | ConfigValidationError] = queue.SimpleQueue()
    with _stop_requested() as stop, _open(cli, app, live=True) as cfg:
        cfg.on_error(events.put)  # before reading what is invalid now: no bad key falls between
        cfg.on_change(events.put)
        cli.client.add_listener(_report_connection)
        for key, bad in sorted(cfg.snapshot().invalid.items()):
            events.put(ConfigValidationError(key, bad.problem, app=app))
        if sys.stderr.isatty():
            Output.note(f"watching {cfg.path} at revision {cfg.version} (Ctrl-C to stop)")
        while not stop.is_set():
            try:
                event = events.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(event, ConfigValidationError):
                Output.note(f"{event}; readers keep its last valid value")
            elif cli.json:
                cli.out.record(_change_record(app, event))
            else:
                for line in _change_lines(event):
                    cli.out.line(line)


# --- import / export ----------------------------------------------------------------------
@config.command("import")
@click.argument("app")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--prune", is_flag=True, help="Also remove stored keys that FILE does not have.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "yaml"]),
    help="FILE's format. Default: by its suffix (.yaml/.yml: YAML), else JSON.",
)
@pass_cli
def import_(cli: CliContext, app: str, file: str, dry_run: bool, prune: bool, fmt: str | None) -> None:
    """Make APP's settings match FILE ("-": stdin) in one atomic change.

    FILE is a flat JSON (or YAML) object of key -> value, as `export` prints it. Prints the
    changes, `+ key = value`, `~ key = new (was old)`, `- key (was old)`; with --dry-run
    nothing is written. Fails with exit 3 if the settings changed meanwhile. --json prints
    {app, dry_run, applied, added, changed: {key: {old, new}}, removed}.
    """
    name, chosen = ("stdin", fmt or "json") if file == "-" else (file, file_format(file, fmt))
    values = parse_document(_read_text(file, name), chosen, name)
    with _open(cli, app) as cfg:
        plan = cfg.load(values, prune=prune, dry_run=dry_run)
    if plan and not dry_run:
        cli.warn_if_in_process(f"the settings of {app!r}")
    if cli.json:
        cli.out.document(
            {"app": app, "dry_run": dry_run, "applied": bool(plan) and not dry_run, **plan.to_json()}
        )
        return
    for line in plan.lines():
        cli.out.line(line)
    if not plan:
        Output.note(f"{app}: nothing to change")
    elif dry_run:
        Output.note(f"dry run: {len(plan)} change(s) not written")


def _read_text(file: str, name: str) -> str:
    """The text of FILE ("-": stdin); CliError (exit 2) if it cannot be read or is not UTF-8."""
    try:
        if file == "-":
            data = sys.stdin.buffer.read()  # click.get_binary_stream goes in Click 9
        else:
            with open(file, "rb") as handle:
                data = handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror or exc}", ExitCode.USAGE) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", ExitCode.USAGE
        ) from None
    return text.removeprefix("\ufeff")  # a byte order mark some editors write


@config.command("export")
@click.argument("app")
@click.option("--format", "fmt", type=click.Choice(["json", "yaml"]), help="Default: json.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    help="Write to this file instead of stdout.",
)
@pass_cli
def export(cli: CliContext, app: str, fmt: str | None, output: str | None) -> None:
    """Print APP's stored settings as one flat JSON (or YAML) object that `import` reads back.

    An APP with no settings at all fails with exit code 1 (nothing is printed or written).
    """
    if cli.json and fmt == "yaml":
        raise click.UsageError("--json and --format yaml exclude each other")
    chosen = fmt or (file_format(output) if output else "json")
    with _open(cli, app, read_only=True) as cfg:
        settings = cfg.export()
        if not settings:
            raise _no_settings(app, cfg)
        text = dump_text(settings, chosen)
    if output is None:
        click.echo(text, nl=False)
        return
    _write_text(output, text)


def _write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path``; CliError (exit 2) naming the file and the reason if it
    cannot be written (a missing directory, no permission, a full disk)."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):  # the OS says only "No such file or directory"
            reason = f"there is no directory {folder}"
        raise CliError(f"cannot write {path}: {reason}", ExitCode.USAGE) from None
