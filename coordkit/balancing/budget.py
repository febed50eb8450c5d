"""Retry budgets: retries limited to a share of recent requests.

A fixed number of attempts per call multiplies the load on a struggling service by that
number exactly when it can least afford it. A budget (as in Finagle and Envoy) instead allows
``min_per_second * window`` retries plus ``ratio`` retries per request over the last
``window`` seconds: plenty when failures are rare, at most ``1 + ratio`` times the load when
everything fails.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from tenacity import RetryCallState
from tenacity.retry import retry_base

from ..backends import probe as probes
from ..errors import ConfigurationError

__all__ = ["RetryBudget", "retry_if_budget"]

_SLOTS = 10


class RetryBudget:
    """Counts requests and retries in a sliding window of ``window`` seconds (ten slots).

    Thread-safe; share one budget between balancers to budget them together.
    """

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_second < 0 or window <= 0:
            raise ConfigurationError(
                f"need ratio >= 0, min_per_second >= 0 and window > 0; got ratio={ratio!r}, "
                f"min_per_second={min_per_second!r}, window={window!r}"
            )
        self.ratio = float(ratio)
        self.min_per_second = float(min_per_second)
        self.window = float(window)
        self._clock = clock
        self._slot_length = self.window / _SLOTS
        self._slot_ids = [-1] * _SLOTS
        self._requests = [0] * _SLOTS
        self._retries = [0] * _SLOTS
        self._lock = threading.Lock()

    def _slot(self) -> int:
        """The current slot's position, reset if it last served an older period."""
        slot_id = int(self._clock() / self._slot_length)
        position = slot_id % _SLOTS
        if self._slot_ids[position] != slot_id:
            self._slot_ids[position] = slot_id
            self._requests[position] = 0
            self._retries[position] = 0
        return position

    def _totals(self) -> tuple[int, int]:
        newest = int(self._clock() / self._slot_length)
        live = [p for p in range(_SLOTS) if newest - _SLOTS < self._slot_ids[p] <= newest]
        return sum(self._requests[p] for p in live), sum(self._retries[p] for p in live)

    def deposit(self) -> None:
        """Count one request (a call's first attempt)."""
        with self._lock:
            self._requests[self._slot()] += 1

    def available(self) -> float:
        """Retries the budget would allow right now."""
        with self._lock:
            requests, retries = self._totals()
        return self.min_per_second * self.window + self.ratio * requests - retries

    def try_withdraw(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        with self._lock:
            requests, retries = self._totals()
            if retries + 1 > self.min_per_second * self.window + self.ratio * requests:
                return False
            self._retries[self._slot()] += 1
            return True

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio}, min_per_second={self.min_per_second}, window={self.window})"


class retry_if_budget(retry_base):  # noqa: N801 (named like tenacity's own predicates)
    """A tenacity retry predicate that allows a retry only if ``budget`` has one left.

    Combine it last, ``other & retry_if_budget(budget)``, so that the budget is spent only on
    attempts the other predicates want to retry.
    """

    def __init__(self, budget: RetryBudget) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.budget.try_withdraw():
            return True
        if (probe := probes.active) is not None:
            probe.balancer_event("budget_exhausted")
        return False
