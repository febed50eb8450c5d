"""``coordkit status --check``: the version and lag checks, and the verdict line."""

from __future__ import annotations

from typing import Any

import coordkit

__all__ = ["DEFAULT_MAX_LAG", "cluster_checks", "verdict"]

# Members are asked at once but answer a few milliseconds apart: on a busy cluster a follower
# is normally some entries behind. A thousand entries is seconds of writes at a high rate.
DEFAULT_MAX_LAG = 1000


def cluster_checks(info: coordkit.ServerInfo, max_lag: int) -> list[dict[str, Any]]:
    """One row per check: ``name``, ``result`` (what was seen), ``problem`` (empty: passed)."""
    return [_versions(info), _lag(info, max_lag)]


def _versions(info: coordkit.ServerInfo) -> dict[str, Any]:
    found = sorted(set(info.versions.values()))
    if not info.versions:
        return {"name": "versions", "result": "not told by the backend", "problem": ""}
    if len(found) == 1:
        return {"name": "versions", "result": f"all {len(info.versions)} on {found[0]}", "problem": ""}
    each = ", ".join(f"{endpoint} {version}" for endpoint, version in sorted(info.versions.items()))
    return {"name": "versions", "result": each, "problem": f"members run different versions ({each})"}


def _lag(info: coordkit.ServerInfo, max_lag: int) -> dict[str, Any]:
    if not info.positions:
        return {"name": "lag", "result": "not told by the backend", "problem": ""}
    ahead = max(info.positions.values())
    behind = {endpoint: ahead - position for endpoint, position in sorted(info.positions.items())}
    result = f"max {max(behind.values())} entries behind (of {len(behind)} members)"
    late = [f"{endpoint} is {lag} entries behind" for endpoint, lag in behind.items() if lag > max_lag]
    problem = f"{'; '.join(late)} (more than --max-lag {max_lag})" if late else ""
    return {"name": "lag", "result": result, "problem": problem}


def verdict(report: dict[str, Any]) -> str:
    """The last line: ``coordkit status: OK (...)`` or ``coordkit status: CRITICAL: ...``."""
    if report["problems"]:
        return "coordkit status: CRITICAL: " + "; ".join(report["problems"])
    members = len(report["members"]) or len(report["endpoints"])
    facts = [
        " ".join(filter(None, [report["kind"], report["server_version"]])),
        f"{members} member{'s' if members != 1 else ''}",
    ]
    if report["leader"]:
        facts.append(f"leader {report['leader']}")
    facts += [f"{c['name']} {c['result']}" for c in report["checks"]]
    return f"coordkit status: OK ({', '.join(facts)})"
