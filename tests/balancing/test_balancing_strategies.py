"""Distribution properties of the picking strategies (no servers involved)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from balancing_helpers import make_instances
from hypothesis import given, settings
from hypothesis import strategies as st

from coordkit.balancing import (
    STRATEGIES,
    LeastOutstanding,
    PeakEwma,
    RandomChoice,
    RoundRobin,
    Strategy,
    Weighted,
    make_strategy,
)
from coordkit.balancing.strategies import smooth_schedule
from coordkit.errors import ConfigurationError


@given(n=st.integers(1, 40), seed=st.integers(0, 2**32 - 1), cycles=st.integers(1, 4))
def test_round_robin_visits_every_instance_once_per_cycle(n: int, seed: int, cycles: int) -> None:
    instances = tuple(make_instances(n))
    rr = RoundRobin(rng=random.Random(seed))
    picks = [rr.pick(instances).id for _ in range(n * cycles)]
    for c in range(cycles):
        assert sorted(picks[c * n : (c + 1) * n]) == sorted(i.id for i in instances)


@given(
    weights=st.lists(st.integers(0, 12), min_size=1, max_size=12),
    offset=st.integers(0, 200),
    seed=st.integers(0, 1000),
)
def test_weighted_window_matches_weights_exactly(weights: list[int], offset: int, seed: int) -> None:
    instances = tuple(make_instances(len(weights), weights=weights))
    strategy = Weighted(rng=random.Random(seed))
    effective = weights if any(weights) else [1] * len(weights)  # all-zero counts as equal
    total = sum(effective)
    for _ in range(offset):
        strategy.pick(instances)
    window = Counter(strategy.pick(instances).id for _ in range(total))
    assert window == Counter({f"i{k}": w for k, w in enumerate(effective) if w})


@given(weights=st.lists(st.integers(1, 20), min_size=2, max_size=8), length=st.integers(1, 60))
def test_weighted_schedule_is_smooth(weights: list[int], length: int) -> None:
    # In ANY window of consecutive picks (across cycle ends too) each instance's count stays
    # within 1 + n*w/W of its exact share: picks are spread out, not grouped per instance.
    cycle = smooth_schedule(weights)
    total, n = len(cycle), len(weights)
    ring = cycle * (length // total + 2)
    for start in range(total):
        window = Counter(ring[start : start + length])
        for index in range(n):
            weight = cycle.count(index)  # weights divided by their gcd
            share = length * weight / total
            assert abs(window[index] - share) <= 1 + n * weight / total, (weights, start, index)


def test_weighted_schedule_interleaves_light_instances() -> None:
    # Two weight-1 instances next to a weight-15 one are served far apart, not back to back.
    cycle = smooth_schedule([15, 1, 1])
    first, second = cycle.index(1), cycle.index(2)
    assert min(abs(first - second), len(cycle) - abs(first - second)) >= 5
    assert smooth_schedule([2, 1]) in ([0, 1, 0], [1, 0, 0], [0, 0, 1])


def test_weighted_zero_weight_drains_an_instance() -> None:
    instances = tuple(make_instances(3, weights=[2, 0, 1]))
    strategy = Weighted()
    picks = Counter(strategy.pick(instances).id for _ in range(300))
    assert picks == Counter({"i0": 200, "i2": 100})


def test_weighted_rebuilds_when_the_set_changes() -> None:
    strategy = Weighted()
    first = tuple(make_instances(2, weights=[1, 3]))
    second = tuple(make_instances(3, weights=[1, 1, 2]))
    strategy.update(first)
    assert Counter(strategy.pick(first).id for _ in range(40)) == Counter({"i0": 10, "i1": 30})
    assert Counter(strategy.pick(second).id for _ in range(40)) == Counter({"i0": 10, "i1": 10, "i2": 20})


def test_smooth_schedule_bounds_a_huge_cycle() -> None:
    cycle = smooth_schedule([1_000_003, 999_983, 7], limit=1000)
    counts = Counter(cycle)
    assert len(cycle) <= 1000 and counts[2] >= 1
    assert abs(counts[0] - counts[1]) <= 2


@given(n=st.integers(2, 30), hot=st.data())
def test_p2c_never_picks_the_unique_most_loaded_instance(n: int, hot: st.DataObject) -> None:
    instances = tuple(make_instances(n))
    strategy = LeastOutstanding(rng=random.Random(n))
    busiest = hot.draw(st.integers(0, n - 1))
    loads = hot.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    loads[busiest] = max(loads) + 1
    for instance, load in zip(instances, loads, strict=True):
        for _ in range(load):
            strategy.on_start(instance)
    picks = Counter(strategy.pick(instances).id for _ in range(50 * n))
    assert picks[f"i{busiest}"] == 0
    # a unique least loaded instance wins every draw it is in (about 2/n of the picks, so
    # ~100 of these 50n): it gets well over its 1/n share of 50
    quietest = min(range(n), key=lambda k: loads[k])
    if loads.count(loads[quietest]) == 1:
        assert picks[f"i{quietest}"] >= 70


def test_p2c_with_two_instances_always_takes_the_less_loaded() -> None:
    a, b = instances = tuple(make_instances(2))
    strategy = LeastOutstanding()
    strategy.on_start(a)
    assert {strategy.pick(instances).id for _ in range(50)} == {"i1"}
    strategy.on_start(b)
    strategy.on_start(b)
    assert {strategy.pick(instances).id for _ in range(50)} == {"i0"}
    for _ in range(2):
        strategy.on_result(b, 0.01, True)
    assert strategy.outstanding(b) == 0 and strategy.outstanding(a) == 1


def test_peak_ewma_avoids_a_slow_instance_and_forgives_it_later() -> None:
    now = [0.0]
    instances = tuple(make_instances(2))
    fast, slow = instances
    strategy = PeakEwma(decay=10.0, clock=lambda: now[0])
    for _ in range(5):
        for instance, latency in ((fast, 0.01), (slow, 0.5)):
            strategy.on_start(instance)
            strategy.on_result(instance, latency, True)
    assert strategy.load(slow) > 10 * strategy.load(fast)
    assert {strategy.pick(instances).id for _ in range(50)} == {"i0"}
    # one fast reply does not erase the peak at once ...
    strategy.on_start(slow)
    strategy.on_result(slow, 0.01, True)
    assert strategy.load(slow) > strategy.load(fast)
    # ... but without observations the estimate decays, so the slow one gets tried again
    now[0] += 60.0
    assert strategy.load(slow) < 0.01


def test_peak_ewma_counts_fast_failures_as_slow() -> None:
    instances = tuple(make_instances(2))
    good, failing = instances
    strategy = PeakEwma(failure_penalty=1.0)
    strategy.on_start(good)
    strategy.on_result(good, 0.02, True)
    strategy.on_start(failing)
    strategy.on_result(failing, 0.0001, False)  # connection refused: fast but useless
    assert {strategy.pick(instances).id for _ in range(30)} == {"i0"}


def test_peak_ewma_probes_a_new_instance_one_request_at_a_time() -> None:
    instances = tuple(make_instances(2))
    known, new = instances
    strategy = PeakEwma()
    strategy.on_start(known)
    strategy.on_result(known, 0.05, True)
    assert strategy.load(new) == 0.0  # unknown and idle: try it
    strategy.on_start(new)
    assert strategy.load(new) > strategy.load(known)  # unknown with one in flight: wait


def test_random_covers_all_instances_roughly_evenly() -> None:
    instances = tuple(make_instances(5))
    strategy = RandomChoice(rng=random.Random(7))
    counts = Counter(strategy.pick(instances).id for _ in range(5000))
    assert set(counts) == {f"i{k}" for k in range(5)}
    assert all(800 < c < 1200 for c in counts.values())


def test_strategies_by_name_and_object() -> None:
    for name in STRATEGIES:
        made = make_strategy(name)
        assert isinstance(made, Strategy) and made.name == name
        assert make_strategy(name) is not made  # a fresh object per balancer
    mine = RoundRobin()
    assert make_strategy(mine) is mine
    with pytest.raises(ConfigurationError, match=r"unknown balancing strategy 'fastest'.*round_robin"):
        make_strategy("fastest")


class _FirstAlive(Strategy):
    """A user strategy: the first instance, for the default pick_other."""

    name = "first"

    def pick(self, instances, key=None):  # type: ignore[no-untyped-def]
        return instances[0]


def test_default_pick_other_finds_an_instance_not_excluded() -> None:
    instances = tuple(make_instances(4))
    strategy = _FirstAlive()
    assert strategy.pick_other(instances, None, {"i0"}).id != "i0"  # type: ignore[union-attr]
    assert strategy.pick_other(instances, None, {"i0", "i1", "i2", "i3"}) is None


@settings(max_examples=30)
@given(n=st.integers(2, 10), seed=st.integers(0, 1000))
def test_pick_other_never_returns_an_excluded_instance(n: int, seed: int) -> None:
    instances = tuple(make_instances(n))
    rng = random.Random(seed)
    exclude = {i.id for i in rng.sample(instances, n - 1)}
    for name in STRATEGIES:
        strategy = make_strategy(name)
        strategy.update(instances)
        chosen = strategy.pick_other(instances, "some-key", exclude)
        assert chosen is not None and chosen.id not in exclude, name
