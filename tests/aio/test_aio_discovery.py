"""Async service registration, discovery and balancing on every backend: the sync registry's
wire format both ways, re-registration after a LOST session, drain, a cache that follows the
store by its watch, a balancer fed by awaited calls, and cancellation that leaves nothing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aio_helpers import replace_session, until

import coordkit
import coordkit.aio
from coordkit.aio.discovery import AsyncServiceCache
from coordkit.discovery.formats import format_for
from coordkit.discovery.instance import ServiceInstance
from coordkit.errors import ConfigurationError, KeyExistsError

DEADLINE = 15.0


def _ids(instances: tuple[ServiceInstance, ...]) -> list[str]:
    return [i.id for i in instances]


async def _has(cache: AsyncServiceCache, ids: list[str]) -> None:
    assert await cache.wait_for(lambda got: _ids(got) == ids, DEADLINE), (ids, cache.instances)


def test_async_registration_is_what_the_sync_registry_reads(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with (
            coordkit.aio.connect(store_url, ttl=4) as aio,
            aio.register("payment", "10.0.0.1", 8080, id="a", metadata={"zone": "eu"}, weight=3) as reg,
        ):
            assert reg.registered and reg.instance.endpoint == "10.0.0.1:8080"
            (found,) = await asyncio.to_thread(client.instances, "payment")
            assert (found.id, found.port, found.metadata, found.weight) == ("a", 8080, {"zone": "eu"}, 3)
            entry = await aio.get(reg.key)
            assert entry is not None and entry.lease == aio.session.session_id
            with pytest.raises(KeyExistsError, match="unique id"):
                await asyncio.to_thread(client.register, "payment", "h", 81, id="a")
            await reg.drain("deploy")
            (drained,) = await asyncio.to_thread(client.instances, "payment")
            assert (drained.status, drained.status_reason) == ("draining", "deploy")
        assert await asyncio.to_thread(client.instances, "payment") == []  # deregistered on exit

    arun(main())


def test_async_cache_follows_sync_registrations(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    first = client.register("payment", "h1", 80, id="a")

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            seen: list[list[str]] = []
            async with aio.discover("payment") as cache:
                assert _ids(cache.instances) == ["a"] and not cache.stale  # the initial read
                cache.add_listener(lambda got: seen.append(_ids(got)))
                second = await asyncio.to_thread(client.register, "payment", "h2", 81, id="b")
                await _has(cache, ["a", "b"])
                await asyncio.to_thread(second.drain)  # the cache lists up instances only
                await _has(cache, ["a"])
                await asyncio.to_thread(first.deregister)
                await _has(cache, [])
            assert seen[-1] == [] and ["a", "b"] in seen

    arun(main())


def test_changes_iterates_each_new_state_until_closed(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            cache = await aio.discover("payment")
            states: list[list[str]] = []

            async def follow() -> None:
                async for instances in cache.changes():
                    states.append(_ids(instances))
                    if len(states) == 2:
                        cache.close()

            following = asyncio.ensure_future(follow())
            await asyncio.sleep(0)  # the iterator is listening
            async with aio.register("payment", "h", 80, id="x"):
                await _has(cache, ["x"])
            async with asyncio.timeout(DEADLINE):
                await following
            assert states == [["x"], []]

    arun(main())


def test_reregistered_after_the_session_is_lost(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with (
            coordkit.aio.connect(store_url, ttl=4) as aio,
            coordkit.aio.connect(store_url, ttl=4) as watcher,
            watcher.discover("payment") as cache,
            aio.register("payment", "h", 80, id="a") as reg,
        ):
            await _has(cache, ["a"])
            generation = aio.session.generation
            await asyncio.to_thread(aio.sync.expire_session)
            await reg.update(weight=7)  # kept for the re-registration if the session is new yet
            assert await cache.wait_for(lambda got: [i.weight for i in got] == [7], DEADLINE)
            await until(lambda: reg.registered and aio.session.generation > generation, "re-registered")
            entry = await aio.get(reg.key)
            assert entry is not None and entry.lease == aio.session.session_id

    arun(main())


def test_a_cancelled_register_leaves_no_instance(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=30) as aio, aio.discover("payment") as cache:
            for spins in range(6):  # cancelled before, while and after the write is sent
                registering = asyncio.ensure_future(aio.register("payment", "h", 80)._open())
                for _ in range(spins):
                    await asyncio.sleep(0)
                if registering.cancel():
                    with pytest.raises(asyncio.CancelledError):
                        await registering
                else:  # it was done before the cancel: not the case under test
                    await registering.result().deregister()
            async with aio.register("payment", "h", 80, id="sentinel"):
                await _has(cache, ["sentinel"])
            await _has(cache, [])
        assert client.instances("payment") == []

    arun(main())


def test_an_adopted_key_removed_before_the_write_over_is_created_again(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    """As the sync registration: a key of this session removed between the adopting read and
    the write over it is created again, not a ConflictError out of register()."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=30) as aio:
            await aio.register("payment", "h", 80, id="same")
            adopting_read, removals = aio.get, []

            async def then_removed(key: str) -> Any:
                entry = await adopting_read(key)
                if not removals:
                    removals.append(await asyncio.to_thread(client.delete, key))
                return entry

            aio.get = then_removed  # type: ignore[method-assign]
            second = await aio.register("payment", "h", 81, id="same")
            assert removals == [True] and second.registered
            (found,) = client.instances("payment")
            assert found.port == 81

    arun(main())


def test_closing_the_client_ends_cache_and_balancer_tasks(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        aio = await coordkit.aio.connect(store_url, ttl=4)
        cache = await aio.discover("payment")
        balancer = await aio.balancer("payment")
        assert cache._task is not None and not cache._task.done()
        await aio.aclose()  # the harness fails on a pending task or a warning at loop close
        assert cache._task.done() and balancer.source._task is not None and balancer.source._task.done()

    arun(main())


def test_balancer_call_spreads_ejects_and_retries(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with (
            coordkit.aio.connect(store_url, ttl=4) as aio,
            aio.register("payment", "h", 1, id="bad"),
            aio.register("payment", "h", 2, id="good1"),
            aio.register("payment", "h", 3, id="good2"),
            aio.balancer("payment", "round_robin", budget=False) as balancer,
        ):
            assert await balancer.source.wait_for(lambda got: len(got) == 3, DEADLINE)
            served: list[str] = []

            async def call(instance: ServiceInstance) -> str:
                await asyncio.sleep(0)
                if instance.id == "bad":
                    raise ConnectionError("refused")
                served.append(instance.id)
                return instance.id

            results = [await balancer.call(call) for _ in range(12)]
            assert set(results) == {"good1", "good2"}  # each failure was retried elsewhere
            assert [i.id for i in balancer.ejected] == ["bad"]  # 5 consecutive failures
            assert len(served) == 12

            async def post(instance: ServiceInstance) -> str:
                raise ValueError("not a failure of the instance")

            with pytest.raises(ValueError):
                await balancer.call(post)

    arun(main())


def test_bad_options_are_refused_before_anything_is_sent(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            with pytest.raises(ConfigurationError):
                aio.register("pay/ment", "h", 80)
            with pytest.raises(ConfigurationError):
                aio.register("payment", "h", 0)
            with pytest.raises(ConfigurationError):
                aio.balancer("payment", "no-such-strategy")  # type: ignore[arg-type]
            assert await aio.tree("/") == []

    arun(main())


def test_caches_hold_no_thread_each(store_url: str, arun: Callable[..., Any]) -> None:
    """A hundred caches on one client follow their services with the loop's tasks: the process
    does not gain a thread per cache."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            first = await aio.discover("svc-0")
            before = threading.active_count()
            caches = [first] + [await aio.discover(f"svc-{k}") for k in range(1, 100)]
            grown = threading.active_count() - before
            async with aio.register("svc-99", "h", 80, id="last"):
                await _has(caches[-1], ["last"])
            assert grown < 10, f"{grown} threads for 99 more caches"
            for cache in caches:
                await cache.aclose()

    arun(main())


def test_reregistered_exactly_once_after_session_expiry(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with (
            coordkit.aio.connect(store_url, ttl=4) as owner,
            coordkit.aio.connect(store_url, ttl=4) as watcher,
            owner.register("payment", "h", 80, id="a") as reg,
        ):
            async with await watcher.watch("/services", recursive=True) as events:
                generation = owner.session.generation
                await asyncio.to_thread(owner.sync.expire_session)
                await until(lambda: reg.registered and owner.session.generation > generation, "re-registered")
                # The watch delivers in store order: once this later write arrives, every write of
                # the registration made before it has arrived too.
                await owner.put("/services/zz-sentinel", "x")
                seen = []
                async with asyncio.timeout(DEADLINE):
                    async for event in events:
                        seen.append(event)
                        if event.key.lstrip("/").endswith("services/zz-sentinel"):
                            break
            mine = [e for e in seen if e.key == reg.key]
            assert [e.type.name for e in mine] == ["DELETE", "PUT"], seen
            entry = await owner.get(reg.key)
            assert entry is not None and entry.lease == owner.session.session_id

    arun(main())


def test_a_create_that_landed_unanswered_in_a_session_since_replaced_is_created_again(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any], old_session_kept: Callable[..., Any]
) -> None:
    """As the sync registration: the key the retry finds, left by this registration's own
    create in a session replaced since (the server still holds it), is created again in the
    current session, not blamed on another session."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            first, put, store = aio.session.session_id, aio.put, aio.sync

            async def landed_then_replaced(key: str, value: Any, **options: Any) -> Any:
                aio.put = put  # type: ignore[method-assign]  # once
                await put(key, value, **options)  # in the first session
                with old_session_kept(store):
                    await replace_session(store)
                raise coordkit.BackendUnavailableError("the reply was lost")

            aio.put = landed_then_replaced  # type: ignore[method-assign]
            reg = await aio.register("payment", "h", 80, id="a")
            found = await asyncio.to_thread(client.get, reg.key)
            assert reg.registered and found is not None and found.lease == aio.session.session_id != first
            assert [i.port for i in client.instances("payment")] == [80]

    arun(main())


def test_a_key_of_an_earlier_session_holding_another_value_is_not_taken_for_ours(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any], old_session_kept: Callable[..., Any]
) -> None:
    """As the sync registration: a key of the replaced session that holds another
    registration's instance, not what this create sent, is left alone and register() fails."""

    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            first, put, store = aio.session.session_id, aio.put, aio.sync
            sibling = format_for(store.backend.capabilities.layout).encode(
                ServiceInstance("payment", "a", "h", 81)
            )

            async def sibling_landed_then_replaced(key: str, value: Any, **options: Any) -> Any:
                aio.put = put  # type: ignore[method-assign]  # once
                assert value != sibling
                await put(key, sibling, **options)  # another registration's, in the first session
                with old_session_kept(store):
                    await replace_session(store)
                raise coordkit.BackendUnavailableError("the reply was lost")

            aio.put = sibling_landed_then_replaced  # type: ignore[method-assign]
            with pytest.raises(KeyExistsError, match="already has an instance a"):
                await aio.register("payment", "h", 80, id="a")
            found = await asyncio.to_thread(client.get, "/services/payment/a")
            assert found is not None and found.lease == first and found.value == sibling
            assert [i.port for i in client.instances("payment")] == [81]

    arun(main())
