"""``coordkit services`` and ``coordkit register``: the service registry from a shell."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from coordkit import NotFoundError, SessionEvent, SessionState
from coordkit.discovery import (
    FormatError,
    Registration,
    RegistryCache,
    ServiceCache,
    ServiceInstance,
    read_instances,
    read_services,
    split_endpoint,
)

from ._ownership import LossReport, run_while_held
from ._signals import Signals, catching_signals
from .context import CliContext, pass_cli
from .output import Output

__all__ = ["register", "services"]

_POLL_SECONDS = 0.25  # bounds how late a stop signal is noticed while following changes
_BASE_HELP = "The registry's root path. Default: /services (Curator's and Spring Cloud's)."
base_option = click.option("--base", default="/services", show_default=False, metavar="PATH", help=_BASE_HELP)


# --- formatting --------------------------------------------------------------------------------
def _age(registered_at: int, now_ms: int) -> str:
    if registered_at <= 0:
        return "-"
    seconds = max(0, (now_ms - registered_at) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _meta_text(instance: ServiceInstance) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(instance.metadata.items())) or "-"


def instance_fields(instance: ServiceInstance, now_ms: int) -> dict[str, Any]:
    """One instance as ``--json`` prints it."""
    age = None if instance.registered_at <= 0 else max(0.0, (now_ms - instance.registered_at) / 1000)
    return {
        "service": instance.name,
        "id": instance.id,
        "address": instance.address,
        "port": instance.port,
        "endpoint": instance.endpoint,
        "weight": instance.weight,
        "status": instance.status,
        "status_reason": instance.status_reason,
        "metadata": dict(instance.metadata),
        "registered_at": instance.registered_at,
        "age_seconds": age,
        "ssl_port": instance.ssl_port,
        "uri_spec": instance.uri_spec,
    }


def _table(rows: list[list[str]]) -> Iterable[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:  # every column padded but the last
        padded = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        yield "  ".join([*padded, row[-1]]).rstrip()


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- services ---------------------------------------------------------------------------------
@click.command("services")
@click.argument("name", required=False)
@click.option(
    "-w",
    "--watch",
    "follow",
    is_flag=True,
    help="Print the instances, then one line per change until Ctrl-C or SIGTERM.",
)
@base_option
@pass_cli
def services(cli: CliContext, name: str | None, follow: bool, base: str) -> None:
    """List the registered services with their instance counts, or with NAME the live
    instances of that service: id, address:port, weight, age and metadata. A NAME without
    a live instance fails with exit code 1 (no registered service at all is an empty list).

    \b
    --watch follows changes (of one service, or of every service without NAME): first a
    line per instance present, then one per change, each flushed:
      + payment/4f1c 10.0.0.7:8080 weight=1 zone=eu-1     added
      ~ payment/4f1c 10.0.0.7:8080 weight=1 status=draining   changed in place
      - payment/4f1c 10.0.0.7:8080                        gone
    With --json: one object per line with "event" (added, updated, removed) and the
    instance's fields. While the store is unreachable the last known instances stand, and
    stderr says so. Exits 0 on Ctrl-C or SIGTERM.

    Reads Curator's layout on ZooKeeper (so Java services registered through Curator or
    Spring Cloud Zookeeper are listed) and etcd's gRPC naming layout on etcd.
    """
    if follow:
        _follow(cli, name, base)
    elif name is None:
        _list_services(cli, base)
    else:
        _list_instances(cli, name, base)


def _list_services(cli: CliContext, base: str) -> None:
    found = read_services(cli.reader, base=base)
    if cli.json:
        cli.out.document(
            [{"service": service, "instances": len(listed)} for service, listed in found.items()]
        )
    elif found:
        for line in _table([[service, str(len(listed))] for service, listed in found.items()]):
            cli.out.line(line)


def _list_instances(cli: CliContext, name: str, base: str) -> None:
    found = read_instances(cli.reader, name, base=base)
    if not found:  # what was asked for is absent: exit 1, as for a missing key
        raise NotFoundError(f"service {name} has no live instance (under {base})")
    now = _now_ms()
    if cli.json:
        cli.out.document([instance_fields(instance, now) for instance in found])
        return
    rows = [["ID", "ADDRESS", "WEIGHT", "STATUS", "AGE", "METADATA"]]
    rows += [
        [i.id, i.endpoint, str(i.weight), i.status, _age(i.registered_at, now), _meta_text(i)] for i in found
    ]
    for line in _table(rows):
        cli.out.line(line)


def _follow(cli: CliContext, name: str | None, base: str) -> None:
    client = cli.reader
    changed = threading.Event()
    with catching_signals() as signals:
        cache = (
            RegistryCache(client, base=base)
            if name is None
            else ServiceCache(client, name, base=base, statuses=None)
        )
        with cache:
            # The listener only wakes this thread, which then diffs the latest instances
            # against what it printed: never an older tuple after a newer one.
            cache.add_listener(lambda found: changed.set())
            client.add_listener(_report_connection)
            _print_changes(cli.out, cache, changed, signals)


def _print_changes(
    out: Output, cache: ServiceCache | RegistryCache, changed: threading.Event, signals: Signals
) -> None:
    printed: dict[tuple[str, str], ServiceInstance] = {}
    changed.set()  # the instances present at the start come first, as additions
    while not signals.stop.is_set():
        if not changed.wait(_POLL_SECONDS):
            continue
        changed.clear()
        current = {(i.name, i.id): i for i in cache.instances}
        for event, instance in _diff(printed, current):
            _print_change(out, event, instance)
        printed = current


def _diff(
    before: dict[tuple[str, str], ServiceInstance], after: dict[tuple[str, str], ServiceInstance]
) -> list[tuple[str, ServiceInstance]]:
    changes = [("removed", old) for place, old in before.items() if place not in after]
    for place, new in after.items():
        old = before.get(place)
        if old is None:
            changes.append(("added", new))
        elif old != new:
            changes.append(("updated", new))
    return changes


def _print_change(out: Output, event: str, instance: ServiceInstance) -> None:
    if out.json:
        out.record({"event": event, **instance_fields(instance, _now_ms())})
        return
    mark = {"added": "+", "updated": "~", "removed": "-"}[event]
    line = f"{mark} {instance.name}/{instance.id} {instance.endpoint}"
    if event != "removed":
        line += f" weight={instance.weight}"
        if not instance.is_up:  # a status change is a change worth a line of its own
            line += f" status={instance.status}" + (
                f" ({instance.status_reason})" if instance.status_reason else ""
            )
        line += "".join(f" {key}={value}" for key, value in sorted(instance.metadata.items()))
    out.line(line)


def _report_connection(event: SessionEvent) -> None:
    if event.state in (SessionState.SUSPENDED, SessionState.LOST):
        Output.note(f"lost contact with the servers ({event.reason}); showing the last known instances")
    elif event.state is SessionState.CONNECTED and event.previous is not SessionState.CONNECTED:
        Output.note("connected again; changes made meanwhile follow")


# --- register -------------------------------------------------------------------------------
def _endpoint(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return split_endpoint(value)
    except FormatError as exc:
        raise click.BadParameter(f"{exc} (e.g. 10.0.0.7:8080 or [::1]:8080)") from None


def _metadata(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --meta zone=eu-1)")
        found[key] = value
    return found


class _NeverLost:
    """A registration as ``run_while_held`` sees it: never lost, since it re-registers
    itself after a session loss (the command keeps running meanwhile)."""

    def __init__(self) -> None:
        self.lost = threading.Event()

    def on_lost(self, callback: Callable[[str], None]) -> None:
        pass


@click.command("register")
@click.argument("name")
@click.argument("endpoint", metavar="HOST:PORT", callback=_endpoint)
@click.option("--id", "instance_id", metavar="ID", help="The instance id. Default: a random UUID.")
@click.option(
    "-m",
    "--meta",
    "metadata",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_metadata,
    help="Metadata (repeat for several), e.g. --meta zone=eu-1 --meta version=2.",
)
@click.option(
    "--weight",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Relative share of the traffic for weighted balancers.",
)
@click.option(
    "--ttl",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Session TTL: how long the instance stays listed after this process stops "
    "answering (a crash, a pause). Default: the URL's ttl, else 10.",
)
@base_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@pass_cli
def register(
    cli: CliContext,
    name: str,
    endpoint: tuple[str, int],
    instance_id: str | None,
    metadata: dict[str, str],
    weight: int,
    ttl: float | None,
    base: str,
    command: tuple[str, ...],
) -> None:
    """Register an instance of service NAME at HOST:PORT and keep it registered.

    \b
    Without COMMAND: print the instance's key once registered, hold the registration until
    SIGINT or SIGTERM, then deregister and exit 0.
    With COMMAND (after "--"): a sidecar for programs that do not embed coordkit. Run it
    with COORDKIT_SERVICE, COORDKIT_INSTANCE_ID and COORDKIT_INSTANCE_KEY in its
    environment, deregister when it ends, and exit with its status. Its stdout is the
    command's alone; SIGINT and SIGTERM are passed on to it.

    \b
    If this process dies the instance disappears after the TTL. If the session is lost
    (servers unreachable for about the TTL) the instance is registered again by itself
    once they answer.

    \b
    Examples:
      coordkit register payment 10.0.0.7:8080 --meta zone=eu-1
      coordkit register payment 10.0.0.7:8080 -- ./payment-server --port 8080
    """
    cli.ttl = ttl
    host, port = endpoint
    with catching_signals() as signals:
        registration = cli.client.register(
            name, host, port, id=instance_id, metadata=metadata, weight=weight, base=base
        )
        try:
            status = _hold(cli, registration, command, signals)
        finally:
            registration.deregister()
    raise click.exceptions.Exit(status)


def _hold(cli: CliContext, registration: Registration, command: tuple[str, ...], signals: Signals) -> int:
    if command:
        env = {
            "COORDKIT_SERVICE": registration.name,
            "COORDKIT_INSTANCE_ID": registration.id,
            "COORDKIT_INSTANCE_KEY": registration.key,
        }
        loss = LossReport(_NeverLost(), f"registration {registration.key}")
        return run_while_held(command, env, loss, signals)
    if cli.json:
        cli.out.record({"key": registration.key, **instance_fields(registration.instance, _now_ms())})
    else:
        cli.out.line(registration.key)
    if sys.stderr.isatty():
        cli.out.note(
            f"registered {registration.instance.endpoint} as {registration.key}; Ctrl-C deregisters it"
        )
    while not signals.stop.wait(_POLL_SECONDS):
        pass
    return 0
