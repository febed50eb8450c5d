"""What ``coordkit status`` shows of an etcd cluster: each endpoint asked on its own."""

from __future__ import annotations

from typing import Any

from ...errors import BackendUnavailableError, CoordkitError
from ..reachability import explain
from ..server_info import ServerInfo
from .conn import EtcdConnection, Stubs, etcdrpc

__all__ = ["server_info"]


def server_info(conn: EtcdConnection, timeout: float) -> ServerInfo:
    """Status of every endpoint, asked in parallel (those that fail are ``unreachable``),
    and the member list from the first that answered. Raises BackendUnavailableError
    when none answers within ``timeout``."""

    def status(stubs: Stubs, remaining: float) -> Any:
        return stubs.maintenance.Status(etcdrpc.StatusRequest(), **stubs.args(remaining))

    # One answer per endpoint, by construction: a mismatch is a bug to raise, not to truncate.
    answers = dict(zip(conn.endpoints, conn.each("server status", status, timeout), strict=True))
    unreachable = explain(
        {e: str(a) for e, a in answers.items() if isinstance(a, CoordkitError)}, "etcd", min(1.0, timeout / 4)
    )
    live = [(e, a) for e, a in answers.items() if not isinstance(a, CoordkitError)]
    if not live:
        raise BackendUnavailableError(
            "server status: no etcd endpoint answered: "
            + "; ".join(f"{e}: {why}" for e, why in unreachable.items())
        )
    endpoint, first = live[0]
    members = conn.call(
        "member list",
        lambda s, t: s.cluster.MemberList(etcdrpc.MemberListRequest(), **s.args(t)),
        retry_safe=True,
        timeout=timeout,
    )
    names = {m.ID: m.name or f"{m.ID:x}" for m in members.members}
    # A member that lost its leader says leader 0: report it, do not trust it.
    leader = next((a.leader for _, a in live if a.leader), 0)
    return ServerInfo(
        kind="etcd",
        endpoints=tuple(conn.endpoints),
        version=first.version,
        members=tuple(f"{names[m.ID]} {','.join(m.clientURLs)}" for m in members.members),
        leader=names.get(leader, f"{leader:x}") if leader else "",
        details={
            "answered_by": endpoint,
            "cluster_id": f"{first.header.cluster_id:x}",
            "member_id": f"{first.header.member_id:x}",
            "revision": first.header.revision,
            "raft_term": first.raftTerm,
            "raft_index": first.raftIndex,
            "db_size": first.dbSize,
        },
        unreachable=unreachable,
        versions={e: a.version for e, a in live},
        positions={e: a.raftIndex for e, a in live},
    )
