"""``coordkit status``: what the client is connected to, and how fast it answers."""

from __future__ import annotations

import statistics
import time
from typing import Any

import click

import coordkit

from .context import CliContext, pass_cli
from .errors import CliError
from .exit_codes import ExitCode
from .status_checks import DEFAULT_MAX_LAG, cluster_checks, verdict

__all__ = ["status"]

_PROBES = 5
# A read of a key that normally does not exist: the cheapest round trip every backend has.
_PROBE_KEY = "/.coordkit/status-probe"


@click.command("status")
@click.option(
    "--check",
    is_flag=True,
    help="Also check that the members run one version and none lags behind, and end with a verdict line.",
)
@click.option(
    "--max-lag",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_LAG,
    show_default=True,
    help="--check: how far (log entries: raft index, zxid) a member may be behind the most advanced.",
)
@pass_cli
def status(cli: CliContext, check: bool, max_lag: int) -> None:
    """Show the backend, each endpoint (answering or not, and why), server version,
    cluster members and leader (where the backend tells), this command's session with the
    TTL the server granted, and the measured round-trip time (median of 5 reads).

    Exits 7 (unhealthy) when any endpoint of the URL does not answer or the cluster has no
    leader, after printing the report; 4 when no endpoint answers at all.

    \b
    --check (for cron jobs and Kubernetes probes) adds, where the backend tells:
      versions  every answering member runs the same server version
      lag       no member is more than --max-lag log entries behind (etcd: raft index,
                ZooKeeper: zxid, read from every member at once)
    and prints a last line "coordkit status: OK ..." or "coordkit status: CRITICAL: ...";
    a failed check exits 7 too. A healthy single-member cluster passes.
    """
    client = cli.client
    info = client.server_info()
    samples = _round_trips(client)
    report = _report(client, info, samples)
    if check:
        report["checks"] = cluster_checks(info, max_lag)
        report["problems"] += [c["problem"] for c in report["checks"] if c["problem"]]
        report["healthy"] = not report["problems"]
        report["verdict"] = verdict(report)
    if cli.json:
        cli.out.document(report)
    else:
        for line in _human(report):
            cli.out.line(line)
        if check:
            for row in report["checks"]:
                cli.out.line(f"check {row['name']}: {row['problem'] or row['result']}")
            cli.out.line(report["verdict"])
    if report["problems"]:
        raise CliError("unhealthy: " + "; ".join(report["problems"]), ExitCode.UNHEALTHY)


def _round_trips(client: coordkit.Client) -> list[float]:
    """Seconds taken by each of a few reads, one after another."""
    samples = []
    for _ in range(_PROBES):
        started = time.perf_counter()
        client.get(_PROBE_KEY)
        samples.append(time.perf_counter() - started)
    return samples


def _problems(elects: bool, info: coordkit.ServerInfo) -> list[str]:
    """What makes the cluster unhealthy: each endpoint that did not answer, a missing leader
    (where there is one to elect: an in-process memory:// store has none)."""
    problems = [f"{endpoint} does not answer ({why})" for endpoint, why in info.unreachable.items()]
    if elects and not info.leader:
        problems.append("the cluster has no leader")
    return problems


def _report(client: coordkit.Client, info: coordkit.ServerInfo, samples: list[float]) -> dict[str, Any]:
    session = client.session
    kind = info.kind or client.kind
    endpoints = list(info.endpoints or client.endpoints)
    elects = not client.backend.capabilities.in_process
    problems = _problems(elects, info)
    return {
        "elects_leader": elects,
        "kind": kind,
        "url": client.url,
        "namespace": client.namespace,
        "endpoints": endpoints,
        "endpoint_health": [
            {"endpoint": e, "up": e not in info.unreachable, "error": info.unreachable.get(e)}
            for e in endpoints
        ],
        "healthy": not problems,
        "problems": problems,
        "server_version": info.version,
        "members": list(info.members),
        "leader": info.leader,
        "session": {
            "id": session.session_id,
            "id_hex": f"0x{session.session_id:x}",
            "ttl": session.ttl,
            "requested_ttl": session.requested_ttl,
            "state": session.state.value,
        },
        "rtt_ms": round(statistics.median(samples) * 1000, 3),
        "rtt_samples_ms": [round(s * 1000, 3) for s in samples],
        "details": dict(info.details),
    }


def _ttl(session: dict[str, Any]) -> str:
    text = f"ttl {session['ttl']:g}s"
    if abs(session["ttl"] - session["requested_ttl"]) > 1e-3:
        text += f" (asked {session['requested_ttl']:g}s; the server granted {session['ttl']:g}s)"
    return text


def _endpoints(report: dict[str, Any]) -> str:
    return ", ".join(
        row["endpoint"] if row["up"] else f"{row['endpoint']} (DOWN: {row['error']})"
        for row in report["endpoint_health"]
    )


def _human(report: dict[str, Any]) -> list[str]:
    session = report["session"]
    rows = [
        ("backend", " ".join(filter(None, [report["kind"], report["server_version"]]))),
        ("url", report["url"]),
        ("namespace", report["namespace"] or "(none)"),
        ("endpoints", _endpoints(report)),
        (
            "members",
            _members(
                report["members"],
                report["leader"],
                [row["endpoint"] for row in report["endpoint_health"] if not row["up"]],
            ),
        ),
        ("leader", report["leader"] or ("NONE" if report["elects_leader"] else "")),
        ("health", "healthy" if report["healthy"] else "UNHEALTHY: " + "; ".join(report["problems"])),
        ("session", f"{session['id_hex']}, {_ttl(session)}, {session['state']}"),
        ("round trip", f"{report['rtt_ms']:.2f} ms (median of {len(report['rtt_samples_ms'])} reads)"),
    ]
    lines = _aligned(rows)
    if report["details"]:
        # The backend's own facts, under their own heading: their names may repeat ours.
        lines.append("server details:")
        lines += ["  " + line for line in _aligned(sorted((k, str(v)) for k, v in report["details"].items()))]
    return lines


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, value in rows if value), default=0)
    return [f"{name + ':':<{width + 1}}  {value}" for name, value in rows if value]


def _members(members: list[str], leader: str, down: list[str]) -> str:
    # Backends describe a member as "name" or "name address"; the leader by its name. A
    # member whose address is an endpoint that did not answer is marked down.
    def mark(member: str) -> str:
        if bool(leader) and (member == leader or member.split(" ", 1)[0] == leader):
            return f"{member} (leader)"
        if any(endpoint in member for endpoint in down):
            return f"{member} (DOWN)"
        return member

    return ", ".join(mark(m) for m in members)
