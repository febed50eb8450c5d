"""The asyncio twin of the fault-test worker's roles (``"api": "async"`` in its OPTIONS).

``lock``, ``semaphore``, ``election`` and ``watch`` behave and log exactly as in
:mod:`coordkit.testing.worker`, through :mod:`coordkit.aio` on one event loop: the same
checkers of :mod:`coordkit.testing.history` judge the run, so a fault scenario proves the
async recipes' guarantees the way it proves the sync ones'. Each ownership query and fenced
write is awaited on the loop the worker's client belongs to; the stop (SIGTERM, or the
parent gone) reaches the loop from the worker's threads through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import coordkit
import coordkit.aio
from coordkit.testing.history import HistoryWriter

__all__ = ["ASYNC_ROLES", "run"]

ASYNC_ROLES = ("lock", "semaphore", "election", "watch")


async def _fenced_increment(
    client: coordkit.aio.AsyncClient, held: Any, log: HistoryWriter, counter: str, token: int
) -> None:
    current = int(await client.get_text(counter) or "0")
    value = current + 1
    log.log("fence_attempt", res=held.name, token=token, value=value)
    try:
        await client.put(counter, str(value), fence=held)
    except coordkit.OwnershipError as exc:
        log.log("fence_refused", res=held.name, token=token, value=value, why=str(exc)[:200])
    except coordkit.CoordkitError as exc:  # the write may or may not have landed
        log.log("fence_unknown", res=held.name, token=token, value=value, why=str(exc)[:200])
    else:
        log.log("fence_ok", res=held.name, token=token, value=value)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    if seconds > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def _tenure(
    client: coordkit.aio.AsyncClient, held: Any, log: HistoryWriter, opts: dict[str, Any], stop: asyncio.Event
) -> bool:
    """Tick while held; True if the tenure ended by choice (release it), False if lost."""
    token = int(held.token)
    res, tick, hold = held.name, float(opts.get("tick", 0.005)), opts.get("hold")
    ends = None if hold is None else time.monotonic() + float(hold)
    ticks, every, counter = 0, int(opts.get("write_every", 0)), opts.get("counter")
    while not stop.is_set() and (ends is None or time.monotonic() < ends):
        t0 = time.monotonic_ns()
        believed = held.is_held
        t1 = time.monotonic_ns()
        if not believed:
            log.log("lost_noticed", res=res, token=token, t0=t0, t=t1, why=held.lost.is_set())
            return False
        log.log("held", res=res, token=token, t0=t0, t=t1)
        ticks += 1
        if counter and every and ticks % every == 0:
            try:
                await _fenced_increment(client, held, log, counter, token)
            except coordkit.CoordkitError as exc:  # the read failed: try again at a later tick
                log.log("read_failed", res=res, why=str(exc)[:200])
        await _wait(stop, tick)
    return True


def _handle(client: coordkit.aio.AsyncClient, role: str, opts: dict[str, Any]) -> Any:
    res, los = opts.get("res", "res"), bool(opts.get("lose_on_suspend", True))
    if role == "election":
        return client.election(res, lose_on_suspend=los)
    if role == "semaphore":
        return client.semaphore(res, int(opts["limit"]), lose_on_suspend=los)
    return client.lock(res, lose_on_suspend=los)


async def _contend(
    client: coordkit.aio.AsyncClient, role: str, log: HistoryWriter, opts: dict[str, Any], stop: asyncio.Event
) -> None:
    res = opts.get("res", "res")
    held = _handle(client, role, opts)

    async def attempt() -> bool:
        if role == "election":
            return bool(await held.campaign(log.worker, timeout=0.5))
        return bool(await held.acquire(timeout=0.5))

    held.on_lost(lambda why: log.log("lost_callback", res=res, why=why[:200]))
    while not stop.is_set():
        try:
            if not await attempt():
                continue
        except coordkit.CoordkitError as exc:
            log.log("acquire_failed", res=res, why=str(exc)[:200])
            await _wait(stop, 0.1)
            continue
        t = time.monotonic_ns()
        token = held.token
        if token is None:  # lost between the return and the token read
            log.log("lost_noticed", res=res, token=-1, t=t, why="before the first tick")
            continue
        log.log("acquired", res=res, token=token, t=t)
        if await _tenure(client, held, log, opts, stop):
            t0 = time.monotonic_ns()  # the tenure's time is up: one last question, then release
            believed = held.is_held
            log.log(
                "releasing" if believed else "lost_noticed",
                res=res,
                token=token,
                t0=t0,
                t=time.monotonic_ns(),
            )
        try:
            await (held.resign() if role == "election" else held.release())
            log.log("released", res=res, token=token)
        except coordkit.CoordkitError as exc:
            log.log("release_failed", res=res, token=token, why=str(exc)[:200])
        await _wait(stop, float(opts.get("pause_between", 0.0)))


async def _watch(
    client: coordkit.aio.AsyncClient, log: HistoryWriter, opts: dict[str, Any], stop: asyncio.Event
) -> None:
    res = opts.get("res", "/w")
    async with await client.watch(res, recursive=True) as watch:
        log.log("watching", res=res)
        stopping = asyncio.ensure_future(stop.wait())
        stopping.add_done_callback(lambda _: watch.cancel())  # get() then returns None
        try:
            while (event := await watch.get()) is not None:
                value = event.entry.value.decode() if event.entry is not None else None
                log.log("watch", key=event.key, type=event.type.name.lower(), value=value, rev=event.revision)
        finally:
            stopping.cancel()


async def _main(
    role: str, url: str, log: HistoryWriter, opts: dict[str, Any], stopped: threading.Event
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    threading.Thread(
        target=lambda: (stopped.wait(), loop.call_soon_threadsafe(stop.set)), name="worker-stop", daemon=True
    ).start()
    client = await coordkit.aio.connect(
        url, ttl=float(opts.get("ttl", 2)), timeout=float(opts.get("timeout", 3))
    )
    session = client.session
    log.log("connected", ttl=session.ttl, margin=session.margin, generation=session.generation, api="async")
    session.add_listener(
        lambda ev: log.log("session", state=ev.state.value, generation=ev.generation, why=ev.reason[:200])
    )
    try:
        if role == "watch":
            await _watch(client, log, opts, stop)
        else:
            await _contend(client, role, log, opts, stop)
    finally:
        await client.aclose()


def run(role: str, url: str, log: HistoryWriter, opts: dict[str, Any], stop: threading.Event) -> None:
    """Play ``role`` through coordkit.aio until ``stop`` is set, then close the client."""
    if role not in ASYNC_ROLES:
        raise SystemExit(f"role {role!r} has no async form (async roles: {', '.join(ASYNC_ROLES)})")
    asyncio.run(_main(role, url, log, opts, stop))
