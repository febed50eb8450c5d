"""A resumable etcd watch: every change once, in revision order, across reconnects and compactions.

Why not python-etcd3's ``Watcher``: it multiplexes every watch of a client on one stream and
one callback thread (a slow callback stalls all watches), drops every watch when the stream
breaks (it calls each callback once with the error), and re-opens a broken stream in a tight
loop while the server is down. Here each watch owns one gRPC stream and one thread that calls
the callback, so callbacks are serial and in order by construction.

Each stream is read by a reader thread of its own that hands one response at a time to the
watch thread. A stream opened while a server restarts can be lost inside gRPC: the read never
returns and ``call.cancel()`` does not release it. The watch thread therefore waits for the
stream's set-up with a bound (1 s, doubling up to the operation timeout while set-ups keep
failing), gives such a stream up, and never blocks where ``cancel()`` cannot reach it.

A slow callback therefore slows the stream: gRPC flow control pushes back to the server,
which then parks the watcher as "slow" and may later find that the revisions it still owes
were compacted. That case, like a reconnect after a compaction, is resynchronised: read the
current state once, diff it against what this watch has delivered, deliver the difference
as synthesized events at the read's revision, and resume from the next revision.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type

from ...core.retry import PATIENT, until
from ...errors import ClosedError, CoordkitError, NotFoundError
from .. import probe as probes
from ..base import Entry, EventType, Watch, WatchCallback, WatchEvent
from .auth import is_stale_reason, is_stale_token
from .conn import EtcdConnection, Stubs, etcdrpc, translate
from .ops import read

__all__ = ["EtcdWatch"]

log = logging.getLogger(__name__)
_DELETE = 1  # mvccpb.Event.EventType.DELETE (PUT is 0)
_LINK_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


_FIRST_SETUP_BOUND = 1.0  # seconds a new stream has to say "created"; doubles while set-ups fail
_STOP = object()  # put in the hand-off by stop(): the watch thread returns at once


class _Broken(Exception):
    """No stream could be established this time; back off and try again."""


class _StreamEnded:
    """What the reader thread hands over last: the error the stream ended with, if any."""

    def __init__(self, error: grpc.RpcError | None) -> None:
        self.error = error


class EtcdWatch(Watch):
    """One etcd watch on ``[key, range_end)`` (``range_end`` empty: the single key).

    What this watch has delivered is kept as ``{key: mod_revision}`` (the compaction diff
    needs no values: an unchanged key still has the mod_revision it was delivered with).
    It is ``None`` while unknown, i.e. after starting at an explicit revision that is
    already compacted; a resync then reports every present key as PUT and cannot report
    the deletions it never saw.
    """

    def __init__(
        self,
        conn: EtcdConnection,
        key: bytes,
        range_end: bytes,
        *,
        entry_of: Callable[[Any], Entry],
        name_of: Callable[[bytes], str],
        callback: WatchCallback,
        on_link_down: Callable[[], None],
        on_cancel: Callable[[EtcdWatch], None],
        what: str,
    ) -> None:
        self._conn, self._key, self._end = conn, key, range_end
        self._entry_of, self._name_of, self._callback = entry_of, name_of, callback
        self._on_link_down, self._on_cancel, self._what = on_link_down, on_cancel, what
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._call: Any = None  # the live stream, so that cancel() can cut it
        self._handoff: queue.Queue[Any] | None = None  # the live stream's responses
        self._setup_bound = _FIRST_SETUP_BOUND
        self._thread: threading.Thread | None = None
        self._next = 0  # the first revision not yet delivered
        self._delivered: dict[bytes, int] | None = {}

    # --- life cycle ----------------------------------------------------------------
    def start(self, start_revision: int | None, timeout: float | None = None) -> None:
        """Fix where the watch starts, then run it. Raises coordkit errors (the server must
        answer one read, within ``timeout`` if given, else the operation timeout); nothing
        runs on failure."""
        if start_revision is None:
            # One read gives both "now" and the state at now: nothing falls in between.
            snapshot = self._read(keys_only=True, timeout=timeout)
            self._delivered = {kv.key: kv.mod_revision for kv in snapshot.kvs}
            self._next = snapshot.header.revision + 1
        else:
            self._next = start_revision
            self._delivered = self._snapshot_at(start_revision - 1, timeout)
        self._thread = threading.Thread(target=self._run, name=f"coordkit-etcd-{self._what}", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop; returns once no callback runs or will run (at once from inside a callback)."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def cancel_nowait(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop without waiting for a callback in flight (used by the backend's close)."""
        self._cancelled.set()
        with self._lock:
            call, handoff = self._call, self._handoff
        if call is not None:
            call.cancel()
        if handoff is not None:
            # Wakes the watch thread even if gRPC never does; when the hand-off is full, the
            # watch thread takes what is there, then sees the cancel.
            with contextlib.suppress(queue.Full):
                handoff.put_nowait(_STOP)
        self._on_cancel(self)

    # --- the thread ----------------------------------------------------------------
    def _run(self) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(_Broken),
            wait=PATIENT,  # background work waiting out an outage, jittered: watches do not reconnect in step
            stop=until(self._cancelled.is_set),
            sleep=self._pause,
            before_sleep=self._log_retry,
        )
        try:
            while not self._cancelled.is_set():
                retrying(self._follow)  # returns whenever an established stream ended
        except (RetryError, ClosedError):
            pass  # cancelled while backing off, or the backend closed under us
        except Exception:  # a bug here must not pass silently: the watch has stopped
            log.exception("coordkit %s stopped on an unexpected error", self._what)

    def _pause(self, seconds: float) -> None:
        self._cancelled.wait(seconds)  # cancel() cuts a back-off short

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.debug("coordkit: %s; %s retries from revision %d", error, self._what, self._next)

    def _follow(self) -> None:
        """Run one stream from ``self._next`` until it ends. Returns after a stream that
        was established or after a resync (reconnect at once); raises _Broken if none was."""
        if self._cancelled.is_set():
            return
        create = etcdrpc.WatchCreateRequest(key=self._key, range_end=self._end, start_revision=self._next)
        over = threading.Event()
        handoff: queue.Queue[Any] = queue.Queue(maxsize=1)  # one response in flight: flow control holds
        try:
            stubs = self._conn.current()
            generation = stubs.client.authentications
            call = stubs.watch.Watch(self._requests(create, over), **stubs.args(None))
        except grpc.RpcError as exc:  # authenticating a new channel failed
            raise _Broken(str(translate(exc, self._what, self._conn.endpoints))) from exc
        except ValueError as exc:  # gRPC refuses calls on a closed channel
            raise ClosedError(f"the etcd backend was closed under {self._what}") from exc
        with self._lock:
            self._call, self._handoff = call, handoff
        established = False
        try:
            # Every way out from here goes through the finally: it lets gRPC's request thread
            # go (``over``), which would otherwise wait in _requests for ever.
            if self._cancelled.is_set():
                return  # cancel() ran before it could see this stream: the finally cuts it
            threading.Thread(
                target=self._read_stream,
                args=(call, handoff, over),
                daemon=True,
                name=f"coordkit-etcd-{self._what}-reader",
            ).start()
            while True:
                item = handoff.get(timeout=None if established else self._setup_bound)
                if item is _STOP:
                    return
                if isinstance(item, _StreamEnded):
                    if item.error is not None:
                        self._stream_failed(item.error, stubs, established, generation)
                    elif not established:
                        raise _Broken("etcd closed the watch stream before it was set up")
                    return
                arrived, item = item  # a response, stamped by the reader when it came
                if item.created and not established:
                    established, self._setup_bound = True, _FIRST_SETUP_BOUND
                if item.compact_revision:
                    self._resync(item.compact_revision)
                    return
                if item.canceled:
                    reason = item.cancel_reason or "no reason"
                    if is_stale_reason(reason):
                        stubs.client.forget(generation)  # the next stream authenticates again
                    raise _Broken(f"etcd cancelled the watch: {reason}")
                if not self._deliver(item):
                    return
                if item.events and (probe := probes.active) is not None:
                    probe.watch_lag("etcd", time.monotonic() - arrived)
        except queue.Empty:
            bound, self._setup_bound = self._setup_bound, min(self._setup_bound * 2, self._conn.timeout)
            raise _Broken(f"etcd did not set the watch stream up within {bound:g}s") from None
        finally:
            over.set()
            call.cancel()
            with self._lock:
                self._call = self._handoff = None

    @staticmethod
    def _read_stream(call: Any, handoff: queue.Queue[Any], over: threading.Event) -> None:
        """Hand the stream's responses over one at a time, then how it ended; stops handing
        over once the watch thread has left the stream (``over``)."""

        def hand(item: Any) -> bool:
            while not over.is_set():
                try:
                    handoff.put(item, timeout=0.5)
                    return True
                except queue.Full:
                    continue  # the callback is slow: hold the stream back
            return False

        try:
            for response in call:  # stamped on arrival: the watch lag counts from here
                if not hand((time.monotonic(), response)):
                    return
        except grpc.RpcError as exc:
            hand(_StreamEnded(exc))
        else:
            hand(_StreamEnded(None))

    def _stream_failed(self, exc: grpc.RpcError, stubs: Stubs, established: bool, generation: int) -> None:
        if self._cancelled.is_set():
            return
        if is_stale_token(exc):
            stubs.client.forget(generation)
        if exc.code() in _LINK_DOWN:
            self._conn.failover(stubs)
            if established:
                self._on_link_down()
        if not established:
            raise _Broken(str(translate(exc, self._what, self._conn.endpoints))) from exc
        # A dropped link is the session's to report (once); other breaks are news.
        log.log(
            logging.DEBUG if exc.code() in _LINK_DOWN else logging.INFO,
            "coordkit %s: stream broke (%s); resuming from revision %d",
            self._what,
            exc.details(),
            self._next,
        )

    @staticmethod
    def _requests(create: Any, over: threading.Event) -> Iterator[Any]:
        yield etcdrpc.WatchRequest(create_request=create)
        over.wait()  # hold our half of the stream open until the stream is done with

    # --- delivery ------------------------------------------------------------------
    def _deliver(self, response: Any) -> bool:
        """Deliver a response's events; False once cancelled."""
        # Progress notifications are not asked for: resuming from their header revision
        # would save a resync after a quiet stretch, but some etcd releases sent them ahead
        # of events (etcd-io/etcd#15220), and exactly-once matters more.
        resume_at = self._next
        for event in response.events:
            kv = event.kv
            if kv.mod_revision < resume_at:
                continue  # already delivered (defensive: etcd does not resend)
            if event.type == _DELETE:
                if self._delivered is not None:
                    self._delivered.pop(kv.key, None)
                change = WatchEvent(EventType.DELETE, self._name_of(kv.key), None, kv.mod_revision)
            else:
                if self._delivered is not None:
                    self._delivered[kv.key] = kv.mod_revision
                change = WatchEvent(EventType.PUT, self._name_of(kv.key), self._entry_of(kv), kv.mod_revision)
            if not self._emit(change):
                return False
            # A transaction's events share a revision and come in one response, so
            # resuming at the next revision never splits a transaction.
            self._next = kv.mod_revision + 1
        return True

    def _emit(self, event: WatchEvent) -> bool:
        if self._cancelled.is_set():
            return False
        try:
            self._callback(event)
        except Exception:  # the watch outlives a failing callback
            log.exception("coordkit watch callback failed on %s", event.key)
        return True

    def _resync(self, compacted: int) -> None:
        """The revisions owed are compacted: deliver the difference between the current
        state and what was delivered, then go on from the read's revision."""
        try:
            state = self._read(keys_only=False)
        except ClosedError:
            raise
        except CoordkitError as exc:
            raise _Broken(f"resync read failed: {exc}") from exc
        revision = state.header.revision
        if (probe := probes.active) is not None:
            probe.watch_resync("etcd", "compaction")
        log.warning(
            "coordkit %s: revisions up to %d were compacted before delivery; "
            "resynchronised from a read at revision %d",
            self._what,
            compacted,
            revision,
        )
        now = {kv.key: kv for kv in state.kvs}
        known = self._delivered
        changes: list[WatchEvent] = []
        for key in sorted(now.keys() | (known or {}).keys()):
            kv = now.get(key)
            if kv is None:
                changes.append(WatchEvent(EventType.DELETE, self._name_of(key), None, revision))
            elif known is None or known.get(key) != kv.mod_revision:
                changes.append(WatchEvent(EventType.PUT, self._name_of(key), self._entry_of(kv), revision))
        self._delivered = {key: kv.mod_revision for key, kv in now.items()}
        self._next = revision + 1
        for change in changes:
            if not self._emit(change):
                return

    # --- reads ---------------------------------------------------------------------
    def _read(self, *, keys_only: bool, revision: int = 0, timeout: float | None = None) -> Any:
        request = read(self._key, self._end, keys_only=keys_only, revision=revision)
        return self._conn.call(
            f"read for {self._what}",
            lambda s, t: s.kv.Range(request, **s.args(t)),
            retry_safe=True,
            timeout=timeout,
        )

    def _snapshot_at(self, revision: int, timeout: float | None = None) -> dict[bytes, int] | None:
        if revision <= 0:
            return {}  # before the first revision there was nothing
        try:
            found = self._read(keys_only=True, revision=revision, timeout=timeout)
        except NotFoundError:
            return None  # compacted (or future): what the caller has seen is unknown
        return {kv.key: kv.mod_revision for kv in found.kvs}
