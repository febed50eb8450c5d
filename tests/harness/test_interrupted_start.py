"""A start() interrupted (Ctrl-C, a signal turned into an exception) at any point after the
server's process exists kills that process before the interrupt goes on: no server outlives a
start that did not return. Checked by process id against real etcd processes."""

from __future__ import annotations

import os
import signal
import subprocess

import processes
import pytest

from coordkit.testing import EtcdCluster, EtcdServer, _process, eventually, live_pids

DEADLINE = 10.0


def _ctrl_c_when_launched(monkeypatch: pytest.MonkeyPatch, *, at_launch: int = 1) -> list[int]:
    """From the ``at_launch``-th launch on, a real SIGINT reaches this process right after the
    server process was created (when the harness records it); returns the pids launched."""
    launched: list[int] = []
    real = _process.register

    def interrupted(proc: subprocess.Popen[bytes]) -> None:
        launched.append(proc.pid)
        if len(launched) >= at_launch:
            os.kill(os.getpid(), signal.SIGINT)
        real(proc)

    monkeypatch.setattr(_process, "register", interrupted)
    return launched


class _InterruptedWhileWaiting(EtcdServer):
    """An etcd whose readiness wait is interrupted, as by a Ctrl-C during the wait."""

    interrupt = True

    def _ready(self) -> bool:
        if self.interrupt and self._proc is not None:
            self.launched = self._proc.pid
            raise KeyboardInterrupt
        return super()._ready()


def _assert_all_gone(pids: list[int], before: list[int]) -> None:
    assert pids, "no process was launched"

    def every_server_gone() -> bool:
        assert [pid for pid in pids if processes.exists(pid)] == [], "a launched server outlived its start()"
        return True

    eventually(every_server_gone, timeout=DEADLINE, interval=0.05)
    assert live_pids() == before


def test_a_ctrl_c_as_the_process_is_launched_kills_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before = live_pids()
    server = EtcdServer()
    launched = _ctrl_c_when_launched(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        server.start()
    _assert_all_gone(launched, before)
    assert server.pid is None
    with pytest.raises(_process.ServerError):
        server.root_dir  # noqa: B018 - the first start's folder is gone with it


def test_a_ctrl_c_as_a_killed_server_is_relaunched_kills_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before = live_pids()
    with EtcdServer() as server:
        server.kill()
        launched = _ctrl_c_when_launched(monkeypatch)
        with pytest.raises(KeyboardInterrupt):
            server.start()
        _assert_all_gone(launched, before)
        assert server.root_dir.is_dir(), "a restart keeps the data"
        monkeypatch.undo()
        server.start()  # and it can still be started
        assert server.healthy()


def test_an_interrupted_readiness_wait_kills_the_process() -> None:
    before = live_pids()
    server = _InterruptedWhileWaiting()
    with pytest.raises(KeyboardInterrupt):
        server.start()
    _assert_all_gone([server.launched], before)


def test_a_ctrl_c_while_a_cluster_relaunches_kills_its_members(monkeypatch: pytest.MonkeyPatch) -> None:
    before = live_pids()
    with EtcdCluster(3) as cluster:
        cluster.kill()
        launched = _ctrl_c_when_launched(monkeypatch, at_launch=2)  # one member is up already
        with pytest.raises(KeyboardInterrupt):
            cluster.start()
        _assert_all_gone(launched, before)
