"""A cluster of local server processes, each member controllable on its own."""

from __future__ import annotations

import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Generic, TypeVar

from coordkit.testing._process import (
    _POLL_INTERVAL,
    _PORT_ATTEMPTS,
    ServerError,
    ServerProcess,
    _AddressInUse,
    _terminate,
)
from coordkit.testing._registry import free_ports, track_dir
from coordkit.testing.polling import eventually

M = TypeVar("M", bound=ServerProcess)
C = TypeVar("C", bound="Cluster")  # type: ignore[type-arg]


class Cluster(ABC, Generic[M]):
    """Several server processes forming one cluster, each member controllable on its own.

    ``start()`` starts every member that is not running and waits until all of them serve;
    ``stop()`` stops them all and removes the shared scratch folder unless ``keep_data`` is set.
    Members' own ``stop()``/``kill()``/``start()``/``pause()`` keep their data and ports.
    """

    scheme: ClassVar[str]
    kind: ClassVar[str]

    def __init__(self, size: int, *, start_timeout: float, stop_timeout: float, keep_data: bool) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one member")
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep_data = keep_data
        self._root: Path | None = None
        self._members: list[M] = [self._new_member(index) for index in range(1, size + 1)]
        for member in self._members:
            member._in_cluster = True

    @abstractmethod
    def _new_member(self, index: int) -> M:
        """A member numbered ``index`` (from 1), built with this cluster's settings."""

    @abstractmethod
    def _is_leader(self, member: M) -> bool:
        """Whether ``member`` says it leads; False when it cannot tell (not running, paused)."""

    @property
    def members(self) -> list[M]:
        """The members in their fixed order (member i is the i-th endpoint)."""
        return list(self._members)

    @property
    def endpoints(self) -> list[str]:
        """``host:port`` of every member's client port, in member order."""
        return [endpoint for member in self._members for endpoint in member.endpoints]

    @property
    def url(self) -> str:
        """The coordkit URL naming every member, such as ``etcd://127.0.0.1:1,127.0.0.1:2``."""
        return f"{self.scheme}://{','.join(self.endpoints)}"

    @property
    def root_dir(self) -> Path:
        """The scratch folder holding every member's folder."""
        if self._root is None:
            raise ServerError(f"{self.kind} cluster has no folder: it was never started or was stopped")
        return self._root

    def leader(self) -> M | None:
        """The member that says it leads now, or None (asks running, unpaused members once)."""
        for member in self._members:
            if member.running and not member.paused and self._is_leader(member):
                return member
        return None

    def wait_for_leader(self, timeout: float = 15.0) -> M:
        """Poll until some member leads; raises ``ServerError`` after ``timeout`` seconds."""
        try:
            found = eventually(self.leader, timeout=timeout, interval=_POLL_INTERVAL)
        except AssertionError:
            raise ServerError(f"no {self.kind} member led within {timeout:g}s") from None
        assert found is not None  # eventually() returns only a truthy value
        return found

    def wait_healthy(self, timeout: float = 30.0) -> M:
        """Wait until every running, unpaused member serves and one of them leads; returns
        the leader. Raises ``ServerError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for member in self._members:
            if member.running and not member.paused:
                member._await_ready(deadline)
        return self.wait_for_leader(max(0.0, deadline - time.monotonic()))

    def start(self) -> None:
        """Start every member not running, resume paused ones, and wait until all serve.

        Raises ``ServerError`` with the failing member's log tail. On a first start every member is
        then killed and the folder removed (unless ``keep_data``); otherwise the members this call
        launched are killed and the others left as they were.
        """
        deadline = time.monotonic() + self.start_timeout
        if self._root is not None:
            launched = [member for member in self._members if not member.running]
            for member in self._members:
                if member.paused:
                    member.resume()
            try:
                for member in launched:
                    member._launch()
                self._await_all(deadline)
            except BaseException:  # an interrupt included: none of these may outlive the start
                _terminate(launched, graceful=False)
                raise
            return
        for _attempt in range(_PORT_ATTEMPTS):
            self._lay_out(Path(tempfile.mkdtemp(prefix=f"coordkit-{self.kind}-cluster-")))
            try:
                for member in self._members:
                    member._launch()
                self._await_all(deadline)
                return
            except _AddressInUse:
                self._discard()
            except BaseException:
                self._discard()
                raise
        raise ServerError(f"{self.kind} cluster: ports kept being taken by others")

    def stop(self) -> None:
        """Stop every member gracefully, then remove the folder unless ``keep_data`` is set."""
        self._stop_members()
        self._discard()

    def kill(self) -> None:
        """SIGKILL every member; data and ports stay for ``start()``."""
        _terminate(self._members, graceful=False)

    def restart(self) -> None:
        """Stop every member gracefully and start them again with the same ports and data."""
        self._stop_members()
        self.start()

    def pause(self) -> None:
        """SIGSTOP every running member."""
        for member in self._members:
            if member.running:
                member.pause()

    def resume(self) -> None:
        """SIGCONT every paused member."""
        for member in self._members:
            if member.paused:
                member.resume()

    def __enter__(self: C) -> C:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._members!r}>"

    def _stop_members(self) -> None:
        # One at a time: an etcd leader that gets SIGTERM while its followers are also shutting down
        # waits about 6 s trying to hand over leadership, where one by one takes milliseconds.
        for member in self._members:
            _terminate([member], graceful=True)

    def _lay_out(self, root: Path) -> None:
        self._root = root
        if not self.keep_data:
            track_dir(root, True)
        width = len(self._members[0].port_names)
        ports = free_ports(width * len(self._members))
        for index, member in enumerate(self._members):
            member._ports = dict(
                zip(member.port_names, ports[index * width : (index + 1) * width], strict=True)
            )
            member._root = root / f"n{index + 1}"
            member._root.mkdir()
        for member in self._members:
            member._write_config()

    def _await_all(self, deadline: float) -> None:
        for member in self._members:
            if member.running:
                member._await_ready(deadline)

    def _discard(self) -> None:
        _terminate(self._members, graceful=False)
        root, self._root = self._root, None
        for member in self._members:
            member._root = None
        if root is None or self.keep_data:
            return
        shutil.rmtree(root, ignore_errors=True)
        track_dir(root, False)
