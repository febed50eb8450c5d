"""Async live configuration on every backend: values followed by a watch, plain and coroutine
listeners on the loop, writes with read-your-writes, and a close that cancels the listener
tasks still running without any warning from the loop."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

import coordkit
import coordkit.aio
from coordkit.config.snapshot import ConfigChanges
from coordkit.core.async_deadline import timeout_in
from coordkit.errors import ClosedError, ConfigurationError, ConfigValidationError


@dataclasses.dataclass
class Settings:
    workers: int = 2
    mode: str = "fast"


def test_values_follow_the_store_and_listeners_run_on_the_loop(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        async with (
            coordkit.aio.connect(store_url, ttl=4) as aio,
            aio.config("orders", schema=Settings, writable=True) as cfg,
        ):
            assert cfg.typed == Settings() and cfg.source("workers") == "default"
            loop = asyncio.get_running_loop()
            plain: list[dict[str, Any]] = []
            awaited: list[int] = []
            second_may_end = asyncio.Event()
            arrived = [asyncio.Event(), asyncio.Event()]

            @cfg.on_change
            def on_plain(changes: ConfigChanges) -> None:
                assert asyncio.get_running_loop() is loop  # on the client's loop
                plain.append({k: c.new for k, c in changes.items()})

            @cfg.on_change(keys=["workers"])
            async def on_coroutine(changes: ConfigChanges) -> None:
                if len(awaited) == 1:
                    await second_may_end.wait()
                awaited.append(changes["workers"].new)
                arrived[len(awaited) - 1].set()

            # a sync writer elsewhere: the async config follows it
            sync_cfg = client.config("orders", writable=True)
            await loop.run_in_executor(None, lambda: sync_cfg.set("workers", 5))
            assert await cfg.wait_until(lambda s: s.get("workers") == 5, timeout=10)
            assert cfg.typed.workers == 5 and cfg.get_int("workers") == 5
            revision = await cfg.set("workers", 7)  # read-your-writes: visible on return
            assert cfg["workers"] == 7 and cfg.version >= revision
            await cfg.update({"mode": "safe"})
            assert await cfg.wait_until(lambda _s: len(plain) == 3, timeout=10)
            assert plain == [{"workers": 5}, {"workers": 7}, {"mode": "safe"}]
            # coroutine calls of one listener run in change order, one after another
            async with timeout_in(10):
                await arrived[0].wait()
            assert awaited == [5]  # the second call waits for the first
            second_may_end.set()
            async with timeout_in(10):
                await arrived[1].wait()
            assert awaited == [5, 7]
            with pytest.raises(ConfigValidationError):
                await cfg.set("workers", "many")  # the schema refuses it before writing
            assert cfg["workers"] == 7
            sync_cfg.close()

    arun(main())


def test_close_cancels_listener_tasks_without_warnings(
    store_url: str, client: coordkit.Client, arun: Callable[..., Any]
) -> None:
    async def main() -> None:
        aio = await coordkit.aio.connect(store_url, ttl=4)
        cfg = await aio.config("svc", writable=True)
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def slow(_changes: ConfigChanges) -> None:
            started.set()
            try:
                await asyncio.Event().wait()  # until cancelled
            except asyncio.CancelledError:
                cancelled.set()
                raise

        cfg.on_change(slow)
        await cfg.set("a", 1)
        await cfg.set("a", 2)  # queued behind the first call of the same listener
        async with timeout_in(10):
            await started.wait()
        await cfg.aclose()
        assert cancelled.is_set() and cfg.stale
        await cfg.aclose()  # idempotent
        # closing the client ends a config's listener tasks too
        other = await aio.config("svc2", writable=True)
        other.on_change(slow)
        started.clear()
        await other.set("b", 1)
        async with timeout_in(10):
            await started.wait()
        await aio.aclose()
        with pytest.raises(ClosedError):
            await other.set("b", 2)
        await other.aclose()

    arun(main())  # fails on "Task was destroyed but it is pending" or a never-awaited coroutine


def test_config_options_and_errors_are_the_sync_ones(store_url: str, arun: Callable[..., Any]) -> None:
    async def main() -> None:
        async with coordkit.aio.connect(store_url, ttl=4) as aio:
            cfg = await aio.config("ro", defaults={"x": 1})
            with pytest.raises(ConfigurationError):
                await cfg.set("x", 2)  # not writable
            assert cfg["x"] == 1 and dict(cfg) == {"x": 1}
            with pytest.raises(ConfigurationError):
                cfg.typed  # noqa: B018 - no schema
            await cfg.aclose()
            with pytest.raises(ConfigurationError):
                await aio.config("../escape")

    arun(main())
