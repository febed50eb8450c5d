"""Balancer.pick / call / picked over a StaticInstances source."""

from __future__ import annotations

import itertools
import threading
from collections import Counter

import pytest
from balancing_helpers import FakeClock, make_instances
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

from coordkit.balancing import (
    Balancer,
    InstanceFailure,
    LeastOutstanding,
    NoInstanceAvailableError,
    OutlierEjection,
    RetryBudget,
    StaticInstances,
)
from coordkit.discovery.instance import ServiceInstance
from coordkit.errors import ClosedError, ConfigurationError, CoordkitError


def test_call_retries_on_another_instance_when_one_fails() -> None:
    source = StaticInstances(make_instances(3))
    balancer = Balancer(source, "round_robin")
    dead = {"i0"}
    seen: list[str] = []

    def request(instance: ServiceInstance) -> str:
        seen.append(instance.id)
        if instance.id in dead:
            raise ConnectionRefusedError(f"{instance.endpoint} refused")
        return instance.id

    results = [balancer.call(request) for _ in range(9)]
    assert "i0" not in results and len(results) == 9
    # every failed attempt was followed by an attempt on a different instance
    for before, after in itertools.pairwise(seen):
        if before == "i0":
            assert after != "i0"


def test_call_gives_up_after_the_policy_and_reraises_the_last_failure() -> None:
    source = StaticInstances(make_instances(3))
    balancer = Balancer(source, ejection=False)
    tried: list[str] = []

    def request(instance: ServiceInstance) -> None:
        tried.append(instance.id)
        raise TimeoutError(instance.id)

    with pytest.raises(TimeoutError) as excinfo:
        balancer.call(request)
    assert sorted(tried) == ["i0", "i1", "i2"]  # three attempts, three different instances
    assert str(excinfo.value) == tried[-1]


def test_non_failures_pass_through_without_retry() -> None:
    balancer = Balancer(StaticInstances(make_instances(3)))
    calls = []

    def request(instance: ServiceInstance) -> None:
        calls.append(instance)
        raise ValueError("bad input")  # the caller's problem, not the instance's

    with pytest.raises(ValueError):
        balancer.call(request)
    assert len(calls) == 1 and balancer.ejected == ()


def test_instance_failure_marks_a_reply_as_failed() -> None:
    balancer = Balancer(StaticInstances(make_instances(2)), ejection=OutlierEjection(consecutive_failures=1))

    def request(instance: ServiceInstance) -> str:
        if instance.id == "i0":
            raise InstanceFailure("503 not ready")
        return "ok"

    assert all(balancer.call(request) == "ok" for _ in range(4))
    assert [i.id for i in balancer.ejected] == ["i0"]


def test_user_retry_policy_and_failure_types() -> None:
    balancer = Balancer(
        StaticInstances(make_instances(4)),
        ejection=False,
        failure=(KeyError,),
        retry=Retrying(stop=stop_after_attempt(2), reraise=False, retry=retry_if_exception_type(KeyError)),
    )
    tried: list[str] = []

    def request(instance: ServiceInstance) -> None:
        tried.append(instance.id)
        raise KeyError(instance.id)

    with pytest.raises(RetryError):
        balancer.call(request)
    assert len(tried) == 2 and tried[0] != tried[1]


def test_retry_budget_limits_retries_under_total_failure() -> None:
    clock = FakeClock()
    budget = RetryBudget(ratio=0.1, min_per_second=0.0, window=10, clock=clock)
    balancer = Balancer(StaticInstances(make_instances(3)), ejection=False, budget=budget)
    attempts = Counter()

    def request(instance: ServiceInstance) -> None:
        attempts["n"] += 1
        raise ConnectionResetError

    for _ in range(100):
        with pytest.raises(ConnectionResetError):
            balancer.call(request)
    # 100 calls, budget 10% of requests: about 10 retries, not 200
    assert 100 < attempts["n"] <= 111


def test_no_instance_is_a_clear_coordkit_lookup_error() -> None:
    source = StaticInstances([], name="payment-service")
    balancer = Balancer(source)
    with pytest.raises(NoInstanceAvailableError) as excinfo:
        balancer.pick()
    assert isinstance(excinfo.value, CoordkitError) and isinstance(excinfo.value, LookupError)
    assert "payment-service" in str(excinfo.value) and "no instance is registered" in str(excinfo.value)
    with pytest.raises(NoInstanceAvailableError):
        balancer.call(lambda instance: None)


def test_source_changes_reach_the_balancer_at_once() -> None:
    source = StaticInstances(make_instances(2))
    balancer = Balancer(source, "weighted")
    assert {balancer.pick().id for _ in range(10)} == {"i0", "i1"}
    source.set(make_instances(3, weights=[0, 0, 5]))
    assert {balancer.pick().id for _ in range(10)} == {"i2"}
    source.set([])
    with pytest.raises(NoInstanceAvailableError):
        balancer.pick()


def test_outstanding_is_tracked_across_call_and_picked() -> None:
    strategy = LeastOutstanding()
    balancer = Balancer(StaticInstances(make_instances(2)), strategy)
    inside = threading.Event()
    release = threading.Event()
    holder: list[ServiceInstance] = []

    def slow(instance: ServiceInstance) -> None:
        holder.append(instance)
        inside.set()
        release.wait(5)

    worker = threading.Thread(target=balancer.call, args=(slow,))
    worker.start()
    assert inside.wait(5)
    busy = holder[0]
    assert strategy.outstanding(busy) == 1
    # while it is busy, every pick goes to the other instance
    assert all(balancer.pick() != busy for _ in range(20))
    with balancer.picked() as other:
        assert strategy.outstanding(other) == 1
    release.set()
    worker.join(5)
    assert strategy.outstanding(busy) == 0 and strategy.outstanding(other) == 0


def test_close_and_ownership() -> None:
    owned = StaticInstances(make_instances(1))
    with Balancer(owned, owns_source=True) as balancer:
        balancer.pick()
    assert owned.closed
    with pytest.raises(ClosedError):
        balancer.pick()
    kept = StaticInstances(make_instances(1))
    shared = Balancer(kept)
    shared.close()
    assert not kept.closed
    assert kept._listeners == []  # the closed balancer stopped listening to the shared source


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="unknown balancing strategy"):
        Balancer(StaticInstances(make_instances(1)), "nearest")
    with pytest.raises(ConfigurationError, match="failure"):
        Balancer(StaticInstances(make_instances(1)), failure=42)  # type: ignore[arg-type]


def test_concurrent_picks_and_changes_stay_consistent() -> None:
    source = StaticInstances(make_instances(5))
    balancer = Balancer(source, "weighted")
    errors: list[BaseException] = []
    stop = threading.Event()

    def picker() -> None:
        try:
            while not stop.is_set():
                assert balancer.pick().id.startswith("i")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=picker) for _ in range(3)]
    for t in threads:
        t.start()
    for k in range(200):
        source.set(make_instances(1 + k % 7, weights=[1 + (k % 3)] * (1 + k % 7)))
    stop.set()
    for t in threads:
        t.join(5)
    assert errors == []
