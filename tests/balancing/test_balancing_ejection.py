"""Outlier ejection, retry budgets and filters (with a hand-driven clock)."""

from __future__ import annotations

import contextlib
import math

import pytest
from balancing_helpers import FakeClock, make_instances
from hypothesis import given, settings
from hypothesis import strategies as st

from coordkit.balancing import (
    Balancer,
    NoInstanceAvailableError,
    OutlierEjection,
    RetryBudget,
    StaticInstances,
    by_metadata,
    by_zone,
    required,
    where,
)
from coordkit.balancing.filters import apply_filters
from coordkit.errors import ConfigurationError


def test_ejected_after_n_consecutive_failures_and_back_after_the_backoff(clock: FakeClock) -> None:
    instances = make_instances(4)
    ejection = OutlierEjection(consecutive_failures=3, base_time=10, max_time=100, clock=clock)
    for ok in (False, False, True, False, False):  # a success resets the streak
        assert not ejection.record("i0", ok, 4)
    assert ejection.record("i0", False, 4)  # third in a row
    eligible, ejected, back_at = ejection.partition(instances)
    assert [i.id for i in ejected] == ["i0"] and len(eligible) == 3 and back_at == clock.now + 10
    clock.advance(9.9)
    assert [i.id for i in ejection.partition(instances)[1]] == ["i0"]
    clock.advance(0.1)
    eligible, ejected, back_at = ejection.partition(instances)
    assert ejected == () and len(eligible) == 4 and back_at == math.inf


def test_backoff_doubles_per_ejection_up_to_the_cap_and_is_forgiven(clock: FakeClock) -> None:
    instances = make_instances(2)
    ejection = OutlierEjection(consecutive_failures=1, base_time=10, max_time=35, clock=clock)
    lengths = []
    for _ in range(4):
        assert ejection.record("i1", False, 2)
        lengths.append(ejection.partition(instances)[2] - clock.now)
        clock.advance(lengths[-1])
        ejection.partition(instances)  # returns
    assert lengths == [10, 20, 35, 35]
    # served well for a while: the multiplier comes down again
    for _ in range(4):  # one step down per base_time served
        clock.advance(10)
        ejection.record("i1", True, 2)
    assert ejection.record("i1", False, 2)
    assert ejection.partition(instances)[2] - clock.now == 10


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 12),
    percent=st.sampled_from([0, 10, 34, 50, 100]),
    events=st.lists(st.tuples(st.integers(0, 11), st.booleans(), st.floats(0, 30)), max_size=150),
)
def test_never_more_than_the_allowed_share_is_ejected(
    n: int, percent: float, events: list[tuple[int, bool, float]]
) -> None:
    clock = FakeClock()
    instances = make_instances(n)
    ejection = OutlierEjection(
        consecutive_failures=2, base_time=5, max_time=40, max_ejection_percent=percent, clock=clock
    )
    allowed = math.floor(n * percent / 100)
    for index, ok, wait in events:
        clock.advance(wait)
        ejection.record(f"i{index % n}", ok, n)
        eligible, ejected, _ = ejection.partition(instances)
        assert len(ejected) <= allowed
        assert len(eligible) + len(ejected) == n


def test_shrinking_set_releases_ejections_over_the_cap(clock: FakeClock) -> None:
    instances = make_instances(4)
    ejection = OutlierEjection(consecutive_failures=1, max_ejection_percent=50, clock=clock)
    assert ejection.record("i0", False, 4) and ejection.record("i1", False, 4)
    assert len(ejection.partition(instances)[1]) == 2
    assert len(ejection.partition(instances[:3])[1]) == 1  # 50% of 3 is 1


def test_ejection_options_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        OutlierEjection(consecutive_failures=0)
    with pytest.raises(ConfigurationError):
        OutlierEjection(base_time=10, max_time=5)
    with pytest.raises(ConfigurationError):
        OutlierEjection(max_ejection_percent=120)


def test_retry_budget_allows_a_share_of_recent_requests(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_per_second=0.5, window=10, clock=clock)  # reserve: 5
    assert sum(budget.try_withdraw() for _ in range(20)) == 5
    for _ in range(100):
        budget.deposit()
    assert sum(budget.try_withdraw() for _ in range(100)) == 20
    clock.advance(10.5)  # the window slid past all of it
    assert budget.available() == 5


def test_balancer_ejects_and_returns_through_the_clock(clock: FakeClock) -> None:
    source = StaticInstances(make_instances(3))
    ejection = OutlierEjection(consecutive_failures=2, base_time=5, clock=clock)
    balancer = Balancer(source, "round_robin", ejection=ejection)
    bad = source.instances[1]
    failures = 0
    while failures < 2:  # failures of the other instances do not count against this one
        with contextlib.suppress(ConnectionRefusedError), balancer.picked() as instance:
            if instance == bad:
                failures += 1
                raise ConnectionRefusedError
    assert bad in balancer.ejected
    assert all(balancer.pick() != bad for _ in range(30))
    clock.advance(5)
    assert bad not in balancer.ejected
    assert bad in {balancer.pick() for _ in range(3)}


def test_filters_compose_and_fall_back() -> None:
    instances = make_instances(4, zones=["eu-1", "eu-1", "eu-2", "us-1"])
    eu = by_zone("eu-1") | by_zone("eu-2")
    assert [i.id for i in instances if eu(i)] == ["i0", "i1", "i2"]
    assert [i.id for i in instances if (eu & ~by_zone("eu-1"))(i)] == ["i2"]
    assert [i.id for i in instances if where(lambda i: i.port > 8001)(i)] == ["i2", "i3"]
    # preferences narrow in order and are skipped when they would leave nothing
    prefs = [by_zone("eu-2"), by_zone("ap-9"), where(lambda i: i.port == 8002)]
    assert [i.id for i in apply_filters(instances, prefs, hard=False)] == ["i2"]
    assert [i.id for i in apply_filters(instances, [by_zone("ap-9")], hard=False)] == ["i0", "i1", "i2", "i3"]
    assert apply_filters(instances, [required(by_zone("ap-9"))], hard=True) == ()
    assert [i.id for i in instances if by_metadata(zone="us-1")(i)] == ["i3"]


def test_required_filter_that_matches_nothing_raises_a_clear_error() -> None:
    source = StaticInstances(make_instances(3, zones=["eu-1", "eu-1", "eu-2"]))
    balancer = Balancer(source, filters=[required(by_zone("ap-9"))])
    with pytest.raises(NoInstanceAvailableError, match="3 registered but a required filter"):
        balancer.pick()
    with Balancer(source, filters=by_zone("ap-9")) as balancer:  # a preference: falls back
        assert balancer.pick().metadata["zone"] in ("eu-1", "eu-2")


def test_local_zone_preferred_until_its_instances_are_ejected(clock: FakeClock) -> None:
    source = StaticInstances(make_instances(4, zones=["eu-1", "eu-2", "eu-2", "eu-2"]))
    balancer = Balancer(
        source, filters=by_zone("eu-1"), ejection=OutlierEjection(consecutive_failures=1, clock=clock)
    )
    local = source.instances[0]
    assert {balancer.pick().id for _ in range(10)} == {"i0"}
    with pytest.raises(TimeoutError), balancer.picked() as instance:
        assert instance == local
        raise TimeoutError
    assert {balancer.pick().id for _ in range(30)} == {"i1", "i2", "i3"}
