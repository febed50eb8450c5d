"""``coordkit status``: what the client is connected to, and how fast it answers."""

from __future__ import annotations

import statistics
import time
from typing import Any

import click

import coordkit

from .context import CliContext, pass_cli

__all__ = ["status"]

_PROBES = 5
# A read of a key that normally does not exist: the cheapest round trip every backend has.
_PROBE_KEY = "/.coordkit/status-probe"


@click.command("status")
@pass_cli
def status(cli: CliContext) -> None:
    """Show the backend, its endpoints, server version, cluster members and leader (where
    the backend tells), this command's session, and the measured round-trip time (median
    of 5 reads).
    """
    client = cli.client
    info = client.server_info()
    samples = _round_trips(client)
    report = _report(client, info, samples)
    if cli.json:
        cli.out.document(report)
    else:
        for line in _human(report):
            cli.out.line(line)


def _round_trips(client: coordkit.Client) -> list[float]:
    """Seconds taken by each of a few reads, one after another."""
    samples = []
    for _ in range(_PROBES):
        started = time.perf_counter()
        client.get(_PROBE_KEY)
        samples.append(time.perf_counter() - started)
    return samples


def _report(client: coordkit.Client, info: coordkit.ServerInfo, samples: list[float]) -> dict[str, Any]:
    session = client.session
    return {
        "kind": info.kind or client.kind,
        "url": client.url,
        "namespace": client.namespace,
        "endpoints": list(info.endpoints or client.endpoints),
        "server_version": info.version,
        "members": list(info.members),
        "leader": info.leader,
        "session": {"id": session.session_id, "id_hex": f"0x{session.session_id:x}",
                    "ttl": session.ttl, "state": session.state.value},
        "rtt_ms": round(statistics.median(samples) * 1000, 3),
        "rtt_samples_ms": [round(s * 1000, 3) for s in samples],
        "details": dict(info.details),
    }


def _human(report: dict[str, Any]) -> list[str]:
    session = report["session"]
    rows = [
        ("backend", " ".join(filter(None, [report["kind"], report["server_version"]]))),
        ("url", report["url"]),
        ("namespace", report["namespace"] or "(none)"),
        ("endpoints", ", ".join(report["endpoints"])),
        ("members", _members(report["members"], report["leader"])),
        ("leader", report["leader"]),
        ("session", f"{session['id_hex']}, ttl {session['ttl']:g}s, {session['state']}"),
        ("round trip", f"{report['rtt_ms']:.2f} ms (median of {len(report['rtt_samples_ms'])} reads)"),
    ]
    lines = _aligned(rows)
    if report["details"]:
        # The backend's own facts, under their own heading: their names may repeat ours.
        lines.append("server details:")
        lines += ["  " + line for line in _aligned(sorted(report["details"].items()))]
    return lines


def _aligned(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(name) for name, value in rows if value), default=0)
    return [f"{name + ':':<{width + 1}}  {value}" for name, value in rows if value]


def _members(members: list[str], leader: str) -> str:
    # Backends describe a member as "name" or "name address"; the leader by its name.
    def is_leader(member: str) -> bool:
        return bool(leader) and (member == leader or member.split(" ", 1)[0] == leader)

    return ", ".join(f"{m} (leader)" if is_leader(m) else m for m in members)
