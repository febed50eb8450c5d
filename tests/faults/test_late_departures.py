"""A lock waiter whose link lags: it is told of the holder's departure only after its own
contender was deleted too, and must not hold beside the next waiter (no wrapper: the lag is a
blackholed link through a FaultProxy, on real servers, with sync and async waiters)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.testing import eventually
from coordkit.testing.proxy import FaultProxy

DEADLINE = 15.0


class _Waiter:
    """W: one lock handle acquiring in the background, through ``url``, over the sync or the
    async API; ``result()`` is what its acquire returned, ``is_held()`` its state now."""

    def __init__(self, api: str, url: str, name: str) -> None:
        self.api, self._loop = api, asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        if api == "sync":
            self.client: Any = coordkit.connect(url, ttl=10)
        else:

            async def opening() -> Any:
                return await coordkit.aio.connect(url, ttl=10)

            self.client = self._run(opening()).result(DEADLINE)
        if api == "sync":
            self.lock = self.client.lock(name)
            self._acquired: Future[Any] = Future()
            threading.Thread(target=self._acquire_sync, daemon=True).start()
        else:  # an async handle is made and used on its client's loop

            async def handle() -> Any:
                return self.client.lock(name)

            self.lock = self._run(handle()).result(DEADLINE)
            self._acquired = self._run(self.lock.acquire(timeout=DEADLINE * 2))

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _acquire_sync(self) -> None:
        self._acquired.set_result(self.lock.acquire(timeout=DEADLINE * 2))

    def is_held(self) -> bool:
        if self.api == "sync":
            return bool(self.lock.is_held)

        async def held() -> bool:
            return bool(self.lock.is_held)

        return bool(self._run(held()).result(DEADLINE))

    def result(self) -> bool:
        return bool(self._acquired.result(DEADLINE * 2))

    def close(self) -> None:
        if self.api == "sync":
            self.client.close()
        else:
            self._run(self.client.aclose()).result(DEADLINE)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(DEADLINE)
        self._loop.close()


def _queue(client: coordkit.Client, name: str) -> list[tuple[str, int]]:
    return [(c.key, c.create_revision) for c in client.backend.queue_list(name)[0]]


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_a_waiter_told_of_the_departure_late_joins_again_behind(
    kind: str, api: str, request: pytest.FixtureRequest
) -> None:
    """Queue H, W, V, W through a proxy. W's link is blackholed; H releases, then an operator
    deletes W's contender, and V holds. Once the link heals, W is told of H's departure (and
    of its own contender's): it must find its contender gone, join again behind V, and never
    hold beside it; when V releases, W holds."""
    server = request.getfixturevalue(f"{kind}_server")
    namespace = "/ck-" + uuid.uuid4().hex[:12]
    name = f"jobs/lagging-{uuid.uuid4().hex[:8]}"
    with FaultProxy(server.endpoints) as proxy:
        holder, operator, next_one = (coordkit.connect(server.url + namespace, ttl=10) for _ in range(3))
        h = holder.lock(name)
        assert h.acquire(timeout=DEADLINE)
        w = _Waiter(api, proxy.url(server.scheme, namespace), name)
        try:
            eventually(lambda: len(_queue(operator, name)) == 2, timeout=DEADLINE, interval=0.01)
            v = next_one.lock(name)
            v_got: Future[bool] = Future()
            threading.Thread(
                target=lambda: v_got.set_result(v.acquire(timeout=DEADLINE * 2)), daemon=True
            ).start()
            eventually(lambda: len(_queue(operator, name)) == 3, timeout=DEADLINE, interval=0.01)
            w_was = _queue(operator, name)[1]
            proxy.blackhole()
            h.release()  # H goes while W's contender is there
            assert operator.delete(w_was[0])  # then an operator removes W's
            eventually(lambda: v.is_held, timeout=DEADLINE, interval=0.01, message="V to hold")
            proxy.heal()
            both: list[bool] = []

            def w_queued_again() -> bool:
                queue = _queue(operator, name)
                both.append(w.is_held() and v.is_held)
                return len(queue) == 2 and queue[1] != w_was

            eventually(w_queued_again, timeout=DEADLINE, interval=0.01, message="W to join again behind V")
            assert not any(both) and not w.is_held(), "W held beside V, without its contender"
            v.release()
            assert v_got.result(DEADLINE) and w.result() and w.is_held()
        finally:
            w.close()
            for client in (holder, operator, next_one):
                client.close()
