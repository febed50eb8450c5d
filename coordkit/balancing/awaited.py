"""A tracked request awaited: :meth:`Balancer.call`'s semantics for a coroutine function.

The balancer's candidate set, strategy, ejection and retry budget are used unchanged; only the
attempt is awaited and the retry policy is run as tenacity's ``AsyncRetrying`` (its waits are
``asyncio.sleep``: no thread is held). Used by :class:`coordkit.aio.AsyncBalancer` and the
async httpx transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from tenacity import AsyncRetrying, Retrying

from ..discovery.instance import ServiceInstance
from .balancer import Balancer

__all__ = ["as_async", "call_awaited"]

T = TypeVar("T")


def as_async(policy: Retrying) -> AsyncRetrying:
    """The same tenacity policy (stop, wait, retry, hooks) for coroutines."""
    return AsyncRetrying(
        stop=policy.stop,
        wait=policy.wait,
        retry=policy.retry,
        before=policy.before,
        after=policy.after,
        before_sleep=policy.before_sleep,
        reraise=policy.reraise,
        retry_error_cls=policy.retry_error_cls,
        retry_error_callback=policy.retry_error_callback,
    )


async def call_awaited(
    balancer: Balancer,
    fn: Callable[[ServiceInstance], Awaitable[T]],
    *,
    key: object = None,
    retry: Retrying | None = None,
) -> T:
    """Await ``fn(instance)`` on an instance picked by ``balancer``; the semantics of
    :meth:`Balancer.call` (outcome and latency recorded; a failure retried on an instance not
    tried yet, within the policy and the budget; NoInstanceAvailableError when none is in
    rotation). A cancelled attempt ends the instance's request without counting as a failure."""
    tried: set[str] = set()

    async def attempt() -> T:
        instance, started = balancer._begin(key, tried)
        try:
            result = await fn(instance)
        except BaseException as exc:
            balancer._end(instance, started, exc)
            raise
        balancer._end(instance, started, None)
        return result

    return cast(T, await as_async(balancer._policy(retry))(attempt))
