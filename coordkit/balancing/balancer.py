"""The Balancer: picks an instance of a service per request, on the client side.

A balancer follows an :class:`~coordkit.balancing.source.InstanceSource` (the live discovery
cache from ``client.discover(name)``, or a :class:`StaticInstances` list) and turns its
instances into a candidate set in three steps, each redone only when something changes:

1. **required filters** (:func:`~coordkit.balancing.filters.required`) pick the candidates;
2. **outlier ejection** takes failing instances out for a while (at most a set share of them);
3. **preference filters** narrow what is left, falling back when they would leave nothing.

A :mod:`strategy <coordkit.balancing.strategies>` then picks from that set per request,
without locks. :meth:`Balancer.call` wraps one request: it records outcome and latency for
the strategy and the ejection, and retries failures on another instance through a tenacity
policy limited by a :class:`~coordkit.balancing.budget.RetryBudget`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar, cast

from tenacity import Retrying, retry_if_exception, stop_after_attempt
from tenacity.retry import retry_all

from ..backends import probe as probes
from ..core.retry import AT_ONCE
from ..discovery._checks import DEFAULT_BASE, check_statuses
from ..discovery.cache import ServiceCache
from ..discovery.instance import UP, ServiceInstance
from ..errors import ClosedError, NoInstanceAvailableError
from .budget import RetryBudget, retry_if_budget
from .by_name import STRATEGIES, make_strategy
from .ejection import OutlierEjection
from .failures import DEFAULT_FAILURES, FailureSpec, failure_predicate
from .filters import FilterSpec, apply_filters, as_filters
from .source import InstanceSource
from .strategies import Strategy, StrategyName

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["DEFAULT_FAILURES", "STRATEGIES", "Balancer", "FailureSpec", "make_strategy"]

T = TypeVar("T")


class Balancer:
    """Client-side load balancer over the instances of one service.

    ``strategy`` is a name from :data:`STRATEGIES` or a :class:`Strategy` object (one per
    balancer). ``filters``: a filter or a sequence of them (see :mod:`.filters`).
    ``ejection``: an :class:`OutlierEjection`, True for the defaults (5 consecutive failures,
    10 s doubling up to 300 s, at most 50% ejected), False to never eject. ``retry``: the
    tenacity ``Retrying`` used by :meth:`call` (default: up to 3 attempts, no wait, retrying
    failures); a retry always goes to an instance not tried yet in that call while one is
    left. ``budget``: a :class:`RetryBudget`, True for the defaults (20% of requests plus 10
    per second), False for none. ``failure``: exception types, or a predicate, that count
    against an instance (default :data:`DEFAULT_FAILURES`); other exceptions pass through
    without counting and are not retried by the default policy. ``statuses``: those picked
    from (default up only; None: any), applied when the set changes, never per pick.
    ``owns_source``: close the source with the balancer.

    Thread-safe. A pick reads memory only: it never waits for the network, including while
    the backend is unreachable (then :attr:`stale` is True and the last known instances serve).
    """

    def __init__(
        self,
        source: InstanceSource,
        strategy: StrategyName | Strategy = "round_robin",
        *,
        filters: FilterSpec = None,
        ejection: OutlierEjection | bool = True,
        retry: Retrying | None = None,
        budget: RetryBudget | bool = True,
        failure: FailureSpec = DEFAULT_FAILURES,
        statuses: Collection[str] | None = (UP,),
        owns_source: bool = False,
    ) -> None:
        self._source = source
        self._statuses = check_statuses(statuses)
        self._strategy = make_strategy(strategy)
        self._filters = as_filters(filters)
        self._ejection = OutlierEjection() if ejection is True else (ejection or None)
        self._budget = RetryBudget() if budget is True else (budget or None)
        self._is_failure = failure_predicate(failure)
        self._retry = retry or Retrying(
            stop=stop_after_attempt(3),
            wait=AT_ONCE,  # the next attempt picks another instance
            retry=retry_if_exception(self._is_failure),
            reraise=True,
        )
        self._owns_source = owns_source
        self._clock = self._ejection.clock if self._ejection else time.monotonic
        self._lock = threading.RLock()
        self._closed = False
        self._registered: tuple[ServiceInstance, ...] = ()
        self._candidates: tuple[ServiceInstance, ...] = ()
        self._ejected: tuple[ServiceInstance, ...] = ()
        self._eligible: tuple[ServiceInstance, ...] = ()
        self._next_return = math.inf
        # Listen first, then read: a change in between is then seen twice rather than never.
        source.add_listener(self._on_instances)
        self._on_instances(())

    @classmethod
    def for_service(
        cls,
        client: Store,
        name: str,
        strategy: StrategyName | Strategy = "round_robin",
        *,
        base: str = DEFAULT_BASE,
        filters: FilterSpec = None,
        ejection: OutlierEjection | bool = True,
        retry: Retrying | None = None,
        budget: RetryBudget | bool = True,
        failure: FailureSpec = DEFAULT_FAILURES,
        statuses: Collection[str] | None = (UP,),
    ) -> Balancer:
        """A balancer over a new live cache ``client.discover(name, base=base)``, which it owns.

        The other options are the balancer's own (see the class). Returns once the cache holds
        its initial read, so the first pick sees the current instances. Raises what ``discover``
        raises (e.g. BackendUnavailableError) and ConfigurationError for bad options (the
        strategy is checked first, so a bad one reads nothing).
        """
        chosen = make_strategy(strategy)
        cache = ServiceCache(client, name, base=base, statuses=None)  # the balancer filters: it counts all
        try:
            return cls(
                cache,
                chosen,
                filters=filters,
                ejection=ejection,
                retry=retry,
                budget=budget,
                failure=failure,
                statuses=statuses,
                owns_source=True,
            )
        except BaseException:
            cache.close()
            raise

    # --- the candidate set ----------------------------------------------------------------
    def _on_instances(self, _changed: Sequence[ServiceInstance]) -> None:
        # Read the source under the lock rather than trust the argument: calls from the
        # source's thread and from __init__ may interleave, and the latest state must win.
        with self._lock:
            if self._closed:
                return
            self._registered = tuple(self._source.instances)
            wanted = self._statuses
            in_status = [i for i in self._registered if wanted is None or i.status in wanted]
            self._candidates = apply_filters(in_status, self._filters, hard=True)
            self._refresh()

    def _refresh(self) -> None:
        """Recompute ejections and preferences; the caller holds ``self._lock``."""
        healthy: tuple[ServiceInstance, ...] = self._candidates
        ejected: tuple[ServiceInstance, ...] = ()
        next_return = math.inf
        if self._ejection is not None:
            healthy, ejected, next_return = self._ejection.partition(self._candidates)
        eligible = apply_filters(healthy, self._filters, hard=False)
        if eligible:
            # Update before publishing, so that a pick never sees a set the strategy lacks.
            self._strategy.update(eligible)
        if (probe := probes.active) is not None and self._ejected:
            back = {i.id for i in self._ejected} - {i.id for i in ejected}
            for _ in back & {c.id for c in self._candidates}:  # not those that left the registry
                probe.balancer_event("readmission")
        self._ejected, self._next_return, self._eligible = ejected, next_return, eligible

    def _return_due(self) -> None:
        with self._lock:
            if not self._closed and self._clock() >= self._next_return:
                self._refresh()

    # --- picking ----------------------------------------------------------------------------
    def pick(self, key: object = None) -> ServiceInstance:
        """One instance for one request (``key`` for ``consistent_hash``). Reads memory only.

        Raises NoInstanceAvailableError when no instance is in rotation, ClosedError after
        :meth:`close`. Use :meth:`call` or :meth:`picked` so that outcomes are recorded.
        """
        if self._clock() >= self._next_return:
            self._return_due()
        eligible = self._eligible
        probe = probes.active  # None unless metrics are enabled: then this test is the whole cost
        if not eligible:
            if probe is not None:
                probe.balancer_event("no_instance")
            raise self._no_instance()
        if probe is not None:
            probe.balancer_event("pick")
        return self._strategy.pick(eligible, key)

    def _no_instance(self) -> Exception:
        if self._closed:
            return ClosedError(f"the balancer of service {self.name!r} is closed")
        return NoInstanceAvailableError(
            self.name,
            registered=len(self._registered),
            candidates=len(self._candidates),
            ejected=len(self._ejected),
            stale=self.stale,
        )

    def _pick_avoiding(self, key: object, tried: set[str]) -> ServiceInstance:
        instance = self.pick(key)
        eligible = self._eligible
        if instance.id in tried and eligible:
            other = self._strategy.pick_other(eligible, key, tried)
            if other is not None:
                instance = other
        return instance

    # --- tracked requests -------------------------------------------------------------------
    def _record(self, instance: ServiceInstance, latency: float, ok: bool) -> None:
        self._strategy.on_result(instance, latency, ok)
        probe = probes.active
        if not ok and probe is not None:
            probe.balancer_event("failure")
        if self._ejection is not None and self._ejection.record(instance.id, ok, len(self._candidates)):
            if probe is not None:
                probe.balancer_event("ejection")
            with self._lock:
                if not self._closed:
                    self._refresh()

    def _begin(self, key: object, tried: set[str]) -> tuple[ServiceInstance, float]:
        """Pick for one attempt of a call (another instance than ``tried`` while one is left)
        and start its clock; :meth:`_end` records the outcome. Shared with the async balancer."""
        if tried and (probe := probes.active) is not None:
            probe.balancer_event("retry")
        instance = self._pick_avoiding(key, tried)
        tried.add(instance.id)
        self._strategy.on_start(instance)
        return instance, time.perf_counter()

    def _end(self, instance: ServiceInstance, started: float, error: BaseException | None) -> None:
        """Record one attempt: ``error`` (None: success) counts if it is a failure."""
        failed = isinstance(error, Exception) and self._is_failure(error)
        self._record(instance, time.perf_counter() - started, not failed)

    def _policy(self, retry: Retrying | None) -> Retrying:
        """The retry policy of one call: ``retry`` (or the balancer's) within the budget."""
        base = retry or self._retry
        if self._budget is None:
            return base
        self._budget.deposit()
        return base.copy(retry=retry_all(base.retry, retry_if_budget(self._budget)))

    def _attempt(self, fn: Callable[[ServiceInstance], T], key: object, tried: set[str]) -> T:
        instance, started = self._begin(key, tried)
        try:
            result = fn(instance)
        except BaseException as exc:
            self._end(instance, started, exc)
            raise
        self._end(instance, started, None)
        return result

    def call(
        self, fn: Callable[[ServiceInstance], T], *, key: object = None, retry: Retrying | None = None
    ) -> T:
        """Run ``fn(instance)`` on a picked instance and return its result.

        Records the outcome and latency (for the strategy and the ejection). A failure (see
        ``failure``) is retried on an instance not yet tried in this call, as the tenacity
        policy ``retry`` (default: the balancer's) allows and while the retry budget lasts;
        otherwise the last exception propagates (tenacity's ``RetryError`` if the policy was
        built without ``reraise=True``). The balancer holds no lock while ``fn`` runs.
        Raises NoInstanceAvailableError when no instance is in rotation.
        """
        return cast(T, self._policy(retry)(self._attempt, fn, key, set()))

    @contextmanager
    def picked(self, key: object = None) -> Iterator[ServiceInstance]:
        """``with balancer.picked() as instance:`` a tracked request without retries: latency
        is measured over the block, and an exception that counts as a failure is recorded
        against the instance (then re-raised)."""
        instance, started = self._begin(key, set())
        try:
            yield instance
        except BaseException as exc:
            self._end(instance, started, exc)
            raise
        self._end(instance, started, None)

    # --- state ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The service name."""
        return self._source.name

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @property
    def source(self) -> InstanceSource:
        return self._source

    @property
    def ejection(self) -> OutlierEjection | None:
        return self._ejection

    @property
    def budget(self) -> RetryBudget | None:
        return self._budget

    @property
    def stale(self) -> bool:
        """True while the source serves its last known instances (backend unreachable)."""
        return bool(self._source.stale)

    @property
    def instances(self) -> tuple[ServiceInstance, ...]:
        """Every instance the source lists (before filters and ejection)."""
        return self._registered

    @property
    def eligible(self) -> tuple[ServiceInstance, ...]:
        """The instances picks choose from now: filtered, not ejected."""
        if self._clock() >= self._next_return:
            self._return_due()
        return self._eligible

    @property
    def ejected(self) -> tuple[ServiceInstance, ...]:
        """The instances ejected as outliers now."""
        if self._clock() >= self._next_return:
            self._return_due()
        return self._ejected

    # --- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Stop following the source (and close it if the balancer owns it). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._eligible = ()
        if self._owns_source:
            self._source.close()
        else:  # a shared cache lives on: stop listening to it (the protocol makes this optional)
            remove = getattr(self._source, "remove_listener", None)
            if remove is not None:
                remove(self._on_instances)

    def __enter__(self) -> Balancer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<Balancer {self.name!r} {self._strategy!r}: {len(self._eligible)} in rotation, "
            f"{len(self._ejected)} ejected>"
        )
