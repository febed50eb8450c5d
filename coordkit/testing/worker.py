"""Fault-test worker processes: ``python -m coordkit.testing.worker ROLE URL LOG NAME [OPTIONS]``.

Each role uses only the public API, as a user's service would, and logs every event to its
history file (see :mod:`coordkit.testing.history`). OPTIONS is one JSON object:

``lock`` / ``semaphore`` (``limit``) / ``election``
    Contend for ``res`` forever; each tenure ticks the ownership query every ``tick``
    seconds for ``hold`` seconds (forever if null), doing a fenced increment of ``counter``
    every ``write_every`` ticks, then releases. ``lose_on_suspend`` as the recipes take it.
``register``
    Register ``count`` instances of service ``res`` and keep a discovery cache of it,
    logging what it shows (``seen``) after every change.
``watch``
    Watch the subtree ``res`` and log every event.

``"api": "async"`` plays ``lock``, ``semaphore``, ``election`` or ``watch`` through
:mod:`coordkit.aio` instead, logging the same events (:mod:`coordkit.testing.worker_aio`).

The worker stops on SIGTERM (closing its client) and logs ``exit``. It also stops when the
process that started it is gone, however that ended (SIGKILL, ``os._exit``), so that no
worker outlives a test run: it stops gracefully at end of file on its stdin (a pipe whose
other end only the parent holds) and, on Linux, the kernel SIGKILLs it when the parent dies,
which also ends a worker left paused by SIGSTOP.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import signal
import sys
import threading
import time
from typing import Any

import coordkit
from coordkit.testing.history import HistoryWriter

__all__ = ["main"]


def _fenced_increment(
    client: coordkit.Client, held: Any, log: HistoryWriter, counter: str, token: int
) -> None:
    current = int(client.get_text(counter) or "0")
    value = current + 1
    log.log("fence_attempt", res=held.name, token=token, value=value)
    try:
        client.put(counter, str(value), fence=held)
    except coordkit.OwnershipError as exc:
        log.log("fence_refused", res=held.name, token=token, value=value, why=str(exc)[:200])
    except coordkit.CoordkitError as exc:  # the write may or may not have landed
        log.log("fence_unknown", res=held.name, token=token, value=value, why=str(exc)[:200])
    else:
        log.log("fence_ok", res=held.name, token=token, value=value)


def _tenure(
    client: coordkit.Client, held: Any, log: HistoryWriter, opts: dict[str, Any], stop: threading.Event
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
                _fenced_increment(client, held, log, counter, token)
            except coordkit.CoordkitError as exc:  # the read failed: try again at a later tick
                log.log("read_failed", res=res, why=str(exc)[:200])
        stop.wait(tick)
    return True


def _contend(
    client: coordkit.Client, role: str, log: HistoryWriter, opts: dict[str, Any], stop: threading.Event
) -> None:
    res, los = opts.get("res", "res"), bool(opts.get("lose_on_suspend", True))
    if role == "election":
        held: Any = client.election(res, lose_on_suspend=los)

        def attempt() -> bool:
            return bool(held.campaign(log.worker, timeout=0.5))

        release = held.resign
    else:
        held = (
            client.semaphore(res, int(opts["limit"]), lose_on_suspend=los)
            if role == "semaphore"
            else client.lock(res, lose_on_suspend=los)
        )

        def attempt() -> bool:
            return bool(held.acquire(timeout=0.5))

        release = held.release
    held.on_lost(lambda why: log.log("lost_callback", res=res, why=why[:200]))
    while not stop.is_set():
        try:
            if not attempt():
                continue
        except coordkit.CoordkitError as exc:
            log.log("acquire_failed", res=res, why=str(exc)[:200])
            stop.wait(0.1)
            continue
        t = time.monotonic_ns()
        token = held.token
        if token is None:  # lost between the return and the token read
            log.log("lost_noticed", res=res, token=-1, t=t, why="before the first tick")
            continue
        log.log("acquired", res=res, token=token, t=t)
        if _tenure(client, held, log, opts, stop):
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
            release()
            log.log("released", res=res, token=token)
        except coordkit.CoordkitError as exc:
            log.log("release_failed", res=res, token=token, why=str(exc)[:200])
        stop.wait(float(opts.get("pause_between", 0.0)))


def _register(
    client: coordkit.Client, log: HistoryWriter, opts: dict[str, Any], stop: threading.Event
) -> None:
    res = opts.get("res", "svc")
    for i in range(int(opts.get("count", 1))):
        registration = client.register(res, "127.0.0.1", 10000 + i, id=f"{log.worker}-{i}")
        log.log("registered", res=res, id=f"{log.worker}-{i}", key=getattr(registration, "key", ""))
    while True:  # as a service would: a cache that could not start is started again
        try:
            cache = client.discover(res)
            break
        except coordkit.BackendUnavailableError as exc:
            log.log("discover_failed", res=res, why=str(exc)[:200])
            if stop.wait(0.1):
                return
    cache.add_listener(lambda instances: log.log("seen", res=res, ids=sorted(i.id for i in instances)))
    log.log("seen", res=res, ids=sorted(i.id for i in cache.instances))
    stop.wait()


def _watch(client: coordkit.Client, log: HistoryWriter, opts: dict[str, Any], stop: threading.Event) -> None:
    def record(event: coordkit.WatchEvent) -> None:
        value = event.entry.value.decode() if event.entry is not None else None
        log.log("watch", key=event.key, type=event.type.name.lower(), value=value, rev=event.revision)

    with client.watch(opts.get("res", "/w"), record, recursive=True):
        log.log("watching", res=opts.get("res", "/w"))
        stop.wait()


_PR_SET_PDEATHSIG = 1


def _die_with_parent(stop: threading.Event) -> None:
    """Stop when the parent goes: SIGKILL from the kernel (Linux; it reaches a stopped
    process too), and a graceful stop at end of file on stdin (everywhere)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the stdin watch below remains
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(3)

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()  # end of file: the parent is gone (or closed the pipe to stop us)

    threading.Thread(target=watch_stdin, name="worker-parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    role, url, path, name = argv[:4]
    opts: dict[str, Any] = json.loads(argv[4]) if len(argv) > 4 else {}
    log = HistoryWriter(path, name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _die_with_parent(stop)
    faulthandler.register(signal.SIGUSR1)  # a test that waits in vain asks for the stacks
    if opts.get("api") == "async":
        from coordkit.testing.worker_aio import run

        try:
            run(role, url, log, opts, stop)
        finally:
            log.log("exit")
        return 0
    client = coordkit.connect(url, ttl=float(opts.get("ttl", 2)), timeout=float(opts.get("timeout", 3)))
    session = client.session
    log.log("connected", ttl=session.ttl, margin=session.margin, generation=session.generation)
    client.add_listener(
        lambda ev: log.log("session", state=ev.state.value, generation=ev.generation, why=ev.reason[:200])
    )
    try:
        if role in ("lock", "semaphore", "election"):
            _contend(client, role, log, opts, stop)
        elif role == "register":
            _register(client, log, opts, stop)
        elif role == "watch":
            _watch(client, log, opts, stop)
        else:
            raise SystemExit(f"unknown role {role!r}")
    finally:
        client.close()
        log.log("exit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
