"""Servers this process did not start, named by environment variables (CI services, docker compose).

``COORDKIT_TEST_ZK_URL`` and ``COORDKIT_TEST_ETCD_URL`` hold a coordkit URL (``zk://host:port,...``,
``etcd://host:port,...``) or a bare ``host:port,...`` list. Such servers can be used but not
controlled: fault injection needs local processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import NoReturn

from coordkit.testing._process import FaultInjectionUnavailable

ZK_URL_VARIABLE = "COORDKIT_TEST_ZK_URL"
ETCD_URL_VARIABLE = "COORDKIT_TEST_ETCD_URL"
_KINDS = {"zk": "zookeeper", "etcd": "etcd"}


class ExternalServer:
    """A running server (or cluster) reached by URL, with the harness's read-only interface.

    ``start()``/``stop()`` and the context manager do nothing, so code written for local servers
    runs unchanged; ``kill()``, ``restart()``, ``pause()``, ``resume()``, ``pid``, ``data_dir``,
    ``log_path`` and ``members`` raise ``FaultInjectionUnavailable``.
    """

    def __init__(self, url: str, *, default_scheme: str) -> None:
        if default_scheme not in _KINDS:
            raise ValueError(f"unknown scheme {default_scheme!r}; expected one of {sorted(_KINDS)}")
        url = url.strip()
        scheme, sep, rest = url.partition("://")
        if not sep:
            scheme, rest = default_scheme, url
        if scheme != default_scheme:
            raise ValueError(f"{url!r}: expected a {default_scheme}:// URL")
        hosts = rest.partition("/")[0].partition("?")[0]
        self.endpoints: list[str] = [host.strip() for host in hosts.split(",") if host.strip()]
        if not self.endpoints:
            raise ValueError(f"{url!r} names no host:port")
        self.scheme = scheme
        self.kind = _KINDS[scheme]
        self.url = f"{scheme}://{rest}"

    def start(self) -> None:
        """Nothing to do: the server is managed elsewhere."""

    def stop(self) -> None:
        """Nothing to do: the server is managed elsewhere."""

    def _refuse(self, what: str) -> NoReturn:
        raise FaultInjectionUnavailable(
            f"{what} needs a local {self.kind} process started by coordkit.testing; {self.url} is an "
            f"external server (unset {ZK_URL_VARIABLE}/{ETCD_URL_VARIABLE} to run local servers)"
        )

    def kill(self) -> None:
        self._refuse("kill()")

    def restart(self) -> None:
        self._refuse("restart()")

    def pause(self) -> None:
        self._refuse("pause()")

    def resume(self) -> None:
        self._refuse("resume()")

    @property
    def pid(self) -> int | None:
        self._refuse("pid")

    @property
    def data_dir(self) -> Path:
        self._refuse("data_dir")

    @property
    def log_path(self) -> Path:
        self._refuse("log_path")

    @property
    def members(self) -> list[ExternalServer]:
        self._refuse("members")

    def __enter__(self) -> ExternalServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ExternalServer {self.url}>"


@dataclass(frozen=True)
class ExternalServers:
    """The external servers named by the environment; None where the variable is unset or empty."""

    zookeeper: ExternalServer | None
    etcd: ExternalServer | None


def servers_from_env() -> ExternalServers:
    """Read ``COORDKIT_TEST_ZK_URL`` and ``COORDKIT_TEST_ETCD_URL``; raises ``ValueError`` if malformed."""
    zk_url = os.environ.get(ZK_URL_VARIABLE, "").strip()
    etcd_url = os.environ.get(ETCD_URL_VARIABLE, "").strip()
    return ExternalServers(
        zookeeper=ExternalServer(zk_url, default_scheme="zk") if zk_url else None,
        etcd=ExternalServer(etcd_url, default_scheme="etcd") if etcd_url else None,
    )
