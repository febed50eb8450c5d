"""How far a reader follows ``client.lock("x").acquire()`` before reaching the wire: the frames
between ``Lock.acquire`` and the first call of the store's client library (the gRPC stub on
etcd, kazoo on ZooKeeper, the in-process store on memory), counted with ``inspect`` on every
backend. The budget is four (before the one queue protocol: seven on every backend)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
from coordkit.recipes import lock as lock_module

BUDGET = 4


def _frames_from_acquire() -> list[str]:
    """``module:function`` of each frame below ``Lock.acquire`` down to the wire call's caller."""
    stack = inspect.stack()[2:]  # drop this helper and the recording wrapper
    for depth, frame in enumerate(stack):
        if frame.function == "acquire" and frame.frame.f_globals.get("__name__") == lock_module.__name__:
            return [f"{f.frame.f_globals.get('__name__')}:{f.function}" for f in reversed(stack[:depth])]
    return []


def _recording(calls: list[list[str]], method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def record(*args: Any, **kwargs: Any) -> Any:
        frames = _frames_from_acquire()
        if frames:
            calls.append(frames)
        return method(*args, **kwargs)

    return record


class _Stub:
    """A gRPC stub whose calls are recorded (the wire of the etcd backend)."""

    def __init__(self, stub: Any, calls: list[list[str]]) -> None:
        self._stub, self._calls = stub, calls

    def __getattr__(self, name: str) -> Any:
        return _recording(self._calls, getattr(self._stub, name))


def _wrap_wire(kind: str, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    if kind == "memory":
        from coordkit.backends.memory import MemoryStore

        for name in ("get", "range", "commit"):
            monkeypatch.setattr(MemoryStore, name, _recording(calls, getattr(MemoryStore, name)))
    elif kind == "etcd":
        from coordkit.backends.etcd.conn import Stubs

        monkeypatch.setattr(Stubs, "kv", property(lambda stubs: _Stub(stubs.client.kvstub, calls)))
    else:
        from kazoo.client import KazooClient

        for name in ("create_async", "get_children_async", "get_async", "exists_async", "transaction"):
            monkeypatch.setattr(KazooClient, name, _recording(calls, getattr(KazooClient, name)))
    return calls


def test_lock_acquire_reaches_the_wire_within_the_budget(
    client: coordkit.Client, backend_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = client.lock("depth")
    calls = _wrap_wire(backend_kind, monkeypatch)
    assert lock.acquire(timeout=10)
    lock.release()
    assert calls, "no call of the store's client library was seen under Lock.acquire"
    first = calls[0]
    assert len(first) <= BUDGET, f"{len(first)} frames: Lock.acquire -> {' -> '.join(first)} -> the wire"
