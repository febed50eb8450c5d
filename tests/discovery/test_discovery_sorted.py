"""The instances a cache holds (discovery/_sorted_instances.py): order, filter, counts, and
one tuple per change, checked against a plain model over random changes."""

from __future__ import annotations

import random

import pytest

from coordkit.discovery import ServiceInstance
from coordkit.discovery._sorted_instances import SortedInstances
from coordkit.discovery.instance import DOWN, DRAINING, UP


def _model(held: dict[str, ServiceInstance], statuses: frozenset[str] | None) -> tuple[ServiceInstance, ...]:
    ordered = sorted(held.items(), key=lambda item: (item[1].name, item[1].id, item[0]))
    return tuple(i for _, i in ordered if statuses is None or i.status in statuses)


@pytest.mark.parametrize("statuses", [None, frozenset({UP}), frozenset({UP, DRAINING})])
def test_random_changes_match_a_sorted_model(statuses: frozenset[str] | None) -> None:
    rng = random.Random(14)
    held = SortedInstances(statuses)
    model: dict[str, ServiceInstance] = {}
    for step in range(3000):
        service, key_id = rng.choice("abc"), f"k{rng.randrange(60)}"
        key = f"/services/{service}/{key_id}"
        if rng.random() < 0.3:
            instance = None
        else:  # the payload's id may differ from the key's (Curator JSON carries its own)
            instance_id = key_id if rng.random() < 0.8 else f"k{rng.randrange(60)}"
            status = rng.choice((UP, UP, DRAINING, DOWN))
            instance = ServiceInstance(service, instance_id, "h", 1 + rng.randrange(3), status=status)
        changed = held.put(key, instance)
        assert changed == (model.get(key) != instance)
        if instance is None:
            model.pop(key, None)
        else:
            model[key] = instance
        if step % 7 == 0 or not changed:
            assert held.snapshot() == _model(model, statuses)
        assert len(held) == len(_model(model, statuses)) and held.total == len(model)
        assert held.up == sum(i.status == UP for i in model.values())
        assert held.by_service() == {
            s: (
                sum(i.name == s for i in model.values()),
                sum(i.name == s and i.status == UP for i in model.values()),
            )
            for s in {i.name for i in model.values()}
        }


def test_the_tuple_is_built_once_per_change_and_only_when_read() -> None:
    held = SortedInstances(None)
    first = held.snapshot()
    assert first == () and held.snapshot() is first
    assert held.put("/s/a", ServiceInstance("s", "a", "h", 1))
    assert held.published is None  # nothing built by the change itself
    built = held.snapshot()
    assert built == (ServiceInstance("s", "a", "h", 1),) and held.snapshot() is built
    assert not held.put("/s/a", ServiceInstance("s", "a", "h", 1))  # no change: the same tuple
    assert held.published is built
