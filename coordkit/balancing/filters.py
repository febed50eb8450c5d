"""Instance filters: zone and metadata predicates that compose with any strategy.

A filter is a predicate over instances. Filters combine with ``&`` (both), ``|`` (either) and
``~`` (not), like tenacity's policies::

    by_zone("eu-1") | by_zone("eu-2")
    by_metadata(version="2") & ~where(lambda i: i.port == 9999)

A balancer takes one filter or a sequence of them, applied in order, each as a
**preference** by default: if a filter leaves no candidate, the balancer falls back to the
candidates it had before that filter (prefer the local zone, but use another zone rather than
fail). Wrap a filter in :func:`required` to make it a hard constraint instead: when nothing
matches, a pick raises :class:`~coordkit.balancing.NoInstanceAvailableError`.

Filters run when the instance set changes, never per pick, so they may be as slow as needed;
they must depend only on the instance (not on time or load).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..discovery.instance import ServiceInstance

__all__ = ["Filter", "FilterSpec", "apply_filters", "by_metadata", "by_zone", "required", "where"]


class Filter:
    """A predicate over instances; ``required`` is True for a hard constraint."""

    def __init__(
        self, predicate: Callable[[ServiceInstance], bool], description: str, *, required: bool = False
    ) -> None:
        self._predicate = predicate
        self.description = description
        self.required = required

    def __call__(self, instance: ServiceInstance) -> bool:
        return bool(self._predicate(instance))

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda i: self(i) and other(i), f"({self.description} & {other.description})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda i: self(i) or other(i), f"({self.description} | {other.description})")

    def __invert__(self) -> Filter:
        return Filter(lambda i: not self(i), f"~{self.description}")

    def __repr__(self) -> str:
        return f"required({self.description})" if self.required else self.description


FilterSpec = Filter | Sequence[Filter] | None


def where(predicate: Callable[[ServiceInstance], bool], description: str | None = None) -> Filter:
    """A filter from any predicate over :class:`~coordkit.discovery.instance.ServiceInstance`."""
    return Filter(predicate, description or str(getattr(predicate, "__name__", "where(...)")))


def by_zone(zone: str, *, key: str = "zone") -> Filter:
    """Instances whose ``metadata[key]`` (default ``zone``) equals ``zone``."""
    return Filter(lambda i: i.metadata.get(key) == zone, f"by_zone({zone!r})")


def by_metadata(**expected: str) -> Filter:
    """Instances whose metadata holds every given ``key=value`` pair."""
    items = tuple(expected.items())
    text = ", ".join(f"{k}={v!r}" for k, v in items)
    return Filter(lambda i: all(i.metadata.get(k) == v for k, v in items), f"by_metadata({text})")


def required(filter_: Filter) -> Filter:
    """``filter_`` as a hard constraint: no fallback when it matches nothing."""
    return Filter(filter_, filter_.description, required=True)


def as_filters(spec: FilterSpec) -> tuple[Filter, ...]:
    """Normalize the ``filters=`` option to a tuple."""
    if spec is None:
        return ()
    if isinstance(spec, Filter):
        return (spec,)
    return tuple(spec)


def apply_filters(
    instances: Iterable[ServiceInstance], filters: Sequence[Filter], *, hard: bool
) -> tuple[ServiceInstance, ...]:
    """Apply the ``required`` filters (``hard=True``) or the preferences (``hard=False``).

    Required filters may leave nothing; a preference that leaves nothing is skipped.
    """
    current = tuple(instances)
    for f in filters:
        if f.required != hard:
            continue
        narrowed = tuple(i for i in current if f(i))
        if narrowed or hard:
            current = narrowed
    return current
