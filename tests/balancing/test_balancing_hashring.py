"""Consistent hashing: stickiness, few moved keys, bounded loads."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from balancing_helpers import make_instances
from hypothesis import given, settings
from hypothesis import strategies as st

from coordkit.balancing import ConsistentHash
from coordkit.balancing.hashring import hash_key
from coordkit.errors import ConfigurationError

KEYS = [f"user-{k}" for k in range(2000)]


def _owners(strategy: ConsistentHash, instances: tuple, keys: list[str]) -> dict[str, str]:
    return {key: strategy.pick(instances, key).id for key in keys}


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 12), leaving=st.data())
def test_only_keys_of_a_leaving_instance_move(n: int, leaving: st.DataObject) -> None:
    instances = tuple(make_instances(n))
    gone = leaving.draw(st.integers(0, n - 1))
    strategy = ConsistentHash(load_factor=None)
    before = _owners(strategy, instances, KEYS[:500])
    after = _owners(strategy, tuple(i for k, i in enumerate(instances) if k != gone), KEYS[:500])
    for key in before:
        if before[key] != f"i{gone}":
            assert after[key] == before[key]
        else:
            assert after[key] != f"i{gone}"


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12))
def test_a_joining_instance_takes_keys_only_for_itself(n: int) -> None:
    instances = tuple(make_instances(n + 1))
    strategy = ConsistentHash(load_factor=None)
    before = _owners(strategy, instances[:n], KEYS[:500])
    after = _owners(strategy, instances, KEYS[:500])
    assert all(after[k] in (before[k], f"i{n}") for k in before)


def test_about_one_nth_of_the_keys_move() -> None:
    instances = tuple(make_instances(11))
    strategy = ConsistentHash(load_factor=None)
    before = _owners(strategy, instances[:10], KEYS)
    after = _owners(strategy, instances, KEYS)
    moved = sum(before[k] != after[k] for k in KEYS)
    assert 0.5 / 11 * len(KEYS) < moved < 2.0 / 11 * len(KEYS)  # ideal 1/11: 182 keys
    counts = [list(after.values()).count(f"i{k}") for k in range(11)]
    assert max(counts) < 2 * len(KEYS) / 11  # virtual nodes keep the arcs even


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 10),
    c=st.sampled_from([1.1, 1.25, 1.5, 2.0]),
    keys=st.lists(st.sampled_from(KEYS[:40]), min_size=1, max_size=120),
)
def test_bounded_load_never_exceeds_the_cap(n: int, c: float, keys: list[str]) -> None:
    # Requests stay in flight (hot keys repeat): no instance ever carries more than
    # ceil(c * in_flight / n), the bound of consistent hashing with bounded loads.
    instances = tuple(make_instances(n))
    strategy = ConsistentHash(load_factor=c)
    for in_flight, key in enumerate(keys, start=1):
        chosen = strategy.pick(instances, key)
        strategy.on_start(chosen)
        assert strategy.outstanding(chosen) <= math.ceil(c * in_flight / n)


def test_bounded_load_keeps_keys_home_when_there_is_room() -> None:
    instances = tuple(make_instances(5))
    strategy = ConsistentHash(load_factor=1.25)
    home = strategy.pick(instances, "cart-42")
    for _ in range(3):  # start and finish: load never builds up, the key stays home
        chosen = strategy.pick(instances, "cart-42")
        strategy.on_start(chosen)
        strategy.on_result(chosen, 0.01, True)
        assert chosen == home
    spilled = []
    for _ in range(10):  # all in flight at once: the hot key spills to the next instances
        chosen = strategy.pick(instances, "cart-42")
        strategy.on_start(chosen)
        spilled.append(chosen.id)
    assert spilled[0] == home.id and len(set(spilled)) > 1


def test_retry_goes_to_the_same_next_instance_every_time() -> None:
    instances = tuple(make_instances(6))
    strategy = ConsistentHash()
    home = strategy.pick(instances, "k")
    fallbacks = {strategy.pick_other(instances, "k", {home.id}).id for _ in range(5)}  # type: ignore[union-attr]
    assert len(fallbacks) == 1 and home.id not in fallbacks
    assert strategy.pick_other(instances, "k", {i.id for i in instances}) is None


def test_key_hash_is_the_same_in_every_process() -> None:
    # Python's hash() is salted per process; the ring must not be.
    code = "from coordkit.balancing.hashring import hash_key; print(hash_key('user-1'), hash_key(7))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(hash_key("user-1")), str(hash_key(7))]


def test_bad_options_and_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="load_factor"):
        ConsistentHash(load_factor=1.0)
    with pytest.raises(ConfigurationError, match="replicas"):
        ConsistentHash(replicas=0)
    with pytest.raises(ConfigurationError, match="str, bytes or int"):
        ConsistentHash().pick(tuple(make_instances(2)), 1.5)


def test_no_key_means_any_instance() -> None:
    instances = tuple(make_instances(4))
    strategy = ConsistentHash()
    assert {strategy.pick(instances).id for _ in range(200)} == {f"i{k}" for k in range(4)}
