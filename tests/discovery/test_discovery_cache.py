"""The live cache on every backend: initial read, order, listeners, foreign entries,
a 1,000-instance cold start with a single read, one tuple built per cold start and per
change, and no torn reads."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable

import pytest

import coordkit
from coordkit import Put
from coordkit.discovery import ServiceInstance
from coordkit.discovery._sorted_instances import SortedInstances
from coordkit.discovery.formats import format_for

DEADLINE = 10.0
Make = Callable[..., coordkit.Client]
Instances = tuple[ServiceInstance, ...]


def _ids(found: Instances) -> list[str]:
    return [i.id for i in found]


def test_initial_read_is_done_when_discover_returns(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    for name in ("c", "a", "b"):
        owner.register("payment", "h", 80, id=name)
    owner.register("orders", "h", 80, id="z")
    with other.discover("payment") as cache:
        assert _ids(cache.instances) == ["a", "b", "c"]  # sorted by id, no waiting
        assert isinstance(cache.instances, tuple) and len(cache) == 3 and not cache.stale
        assert cache.name == "payment" and cache.path.endswith("/services/payment")


def test_listeners_get_each_new_tuple_in_order(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    calls: queue.SimpleQueue[tuple[str, Instances]] = queue.SimpleQueue()
    with other.discover("payment") as cache:
        threads: set[str] = set()

        def listener(found: Instances) -> None:
            threads.add(threading.current_thread().name)
            calls.put(("first", found))

        cache.add_listener(listener)
        cache.add_listener(lambda found: 1 / 0)  # a broken listener does not stop the others
        cache.add_listener(lambda found: calls.put(("second", found)))
        # One change at a time: ZooKeeper may fold quick successive changes into one.
        a = owner.register("payment", "h", 80, id="a")
        assert cache.wait_for(lambda found: _ids(found) == ["a"], DEADLINE)
        steps: list[Callable[[], object]] = [
            lambda: owner.register("payment", "h", 81, id="b"),
            lambda: a.update(weight=5),
            a.deregister,
        ]
        expected = [["a"], ["a", "b"], ["a", "b"], ["b"]]
        for step, (before, after) in zip(steps, itertools.pairwise(expected), strict=True):
            step()
            assert cache.wait_for(
                lambda found, after=after, before=before: (
                    _ids(found) == after and (after != before or found[0].weight == 5)
                ),
                DEADLINE,
            )
        got = [calls.get(timeout=DEADLINE) for _ in range(2 * len(expected))]
        assert [_ids(found) for who, found in got if who == "first"] == expected
        assert [_ids(found) for who, found in got if who == "second"] == expected
        assert [found[0].weight for who, found in got if who == "first"][2] == 5
        assert calls.empty()
        assert len(threads) == 1


def test_removed_listener_and_closed_cache_hear_nothing_more(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    heard: list[Instances] = []
    cache = other.discover("payment")
    cache.add_listener(heard.append)
    cache.remove_listener(heard.append)
    cache.close()
    with other.discover("payment") as witness:
        owner.register("payment", "h", 80)
        assert witness.wait_for(lambda found: len(found) == 1, DEADLINE)
    assert heard == [] and cache.instances == () and cache.stale


def test_wait_for_times_out_with_false(client: coordkit.Client) -> None:
    with client.discover("payment") as cache:
        assert cache.wait_for(lambda found: len(found) == 1, 0.05) is False


def test_foreign_entries_are_skipped_with_a_warning(
    make_client: Make, caplog: pytest.LogCaptureFixture
) -> None:
    owner, other = make_client(), make_client()
    owner.register("payment", "h", 80, id="good")
    owner.put("/services/payment/junk", b"\x00 not json")
    owner.put("/services/payment/junk/deeper", "not an instance either, and not warned about")
    with caplog.at_level(logging.WARNING, logger="coordkit"), other.discover("payment") as cache:
        assert _ids(cache.instances) == ["good"]
        assert any("/services/payment/junk" in r.getMessage() for r in caplog.records)
        # A junk entry that becomes a valid instance shows up; a valid one turning junk goes.
        fmt = format_for(owner.backend.capabilities.layout)
        owner.put("/services/payment/junk", fmt.encode(ServiceInstance("payment", "junk", "h", 90)))
        assert cache.wait_for(lambda found: _ids(found) == ["good", "junk"], DEADLINE)
        owner.put("/services/payment/junk", "{}")
        assert cache.wait_for(lambda found: _ids(found) == ["good"], DEADLINE)
    assert not any("deeper" in r.getMessage() for r in caplog.records)


def _write_instances(client: coordkit.Client, count: int) -> None:
    fmt = format_for(client.backend.capabilities.layout)
    batch: list[Put] = []
    for n in range(count):
        instance = ServiceInstance("big", f"i{n:04d}", "10.0.0.1", 10000 + n, weight=1 + n % 3)
        batch.append(Put(f"/services/big/{instance.id}", fmt.encode(instance), create=True))
        if len(batch) == 50:  # etcd allows 128 operations per transaction (a put and its read each)
            client.commit(batch)
            batch = []
    if batch:
        client.commit(batch)


class _Reads:
    """Counts the backend read calls a cache makes (the real backend answers them)."""

    def __init__(self, backend: object, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        for name in ("get", "tree", "children"):
            real = getattr(backend, name)
            monkeypatch.setattr(backend, name, self._counting(name, real))

    def _counting(self, name: str, real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            self.calls.append(name)
            return real(*args, **kwargs)

        return call


def test_cold_start_of_1000_instances_is_one_read(make_client: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    writer, reader = make_client(), make_client()
    _write_instances(writer, 1000)
    reads = _Reads(reader.backend, monkeypatch)
    with reader.discover("big") as cache:
        found = cache.instances
        calls = list(reads.calls)
    assert len(found) == 1000 and _ids(found) == sorted(_ids(found))
    assert found[7] == ServiceInstance("big", "i0007", "10.0.0.1", 10007, weight=2)
    if reader.kind == "zookeeper":
        # The watch reads the nodes pipelined; one listing confirms they have all arrived.
        assert calls == ["children"]
    else:
        assert calls == ["tree"]  # one range read, no read per instance


class _Builds:
    """Counts the tuples a cache builds (the real method builds them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = SortedInstances.snapshot

        def snapshot(held: SortedInstances) -> tuple[ServiceInstance, ...]:
            if held.published is None:
                with self._lock:
                    self.count += 1
            return real(held)

        monkeypatch.setattr(SortedInstances, "snapshot", snapshot)


def test_a_cold_start_builds_one_tuple_and_a_change_one_more(
    make_client: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, reader = make_client(), make_client()
    _write_instances(writer, 2000)
    builds = _Builds(monkeypatch)
    with reader.discover("big") as cache:
        found = cache.instances
        assert len(found) == 2000 and cache.instances is found
        assert builds.count == 1  # not one per instance delivered (ZooKeeper's watch delivers 2,000)
        seen = threading.Event()
        cache.add_listener(lambda now: seen.set() if len(now) == 2001 else None)
        writer.register("big", "10.0.0.2", 9000, id="new")
        assert seen.wait(DEADLINE)
        assert len(cache.instances) == 2001 and builds.count == 2  # the listener's, read again


def test_readers_never_see_a_half_applied_change(make_client: Make) -> None:
    owner, other = make_client(), make_client()
    regs = [owner.register("payment", "h", 8000 + n, id=f"i{n}") for n in range(5)]
    stop = threading.Event()
    bad: list[str] = []
    with other.discover("payment") as cache:

        def read() -> None:
            while not stop.is_set():
                found = cache.instances
                if _ids(found) != sorted(_ids(found)) or len({i.id for i in found}) != len(found):
                    bad.append(repr(found))
                if any(i.weight not in (1, 2) for i in found):
                    bad.append(repr(found))

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for round_ in range(10):
                for reg in regs:
                    reg.update(weight=1 + round_ % 2)
            assert cache.wait_for(
                lambda found: all(i.weight == 2 for i in found) and len(found) == 5, DEADLINE
            )
        finally:
            stop.set()
            reader.join()
    assert bad == []
