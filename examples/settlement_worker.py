"""settlement-worker: several copies run; only the elected leader runs the settlement job.

    ORDER_SERVICE_URL=http://127.0.0.1:8080 COORDKIT_URL=etcd://127.0.0.1:2379/example \\
        python -m examples.settlement_worker

Every copy campaigns in the coordkit election ``settlement`` with its ``INSTANCE_ID``. The leader
settles paid orders every ``interval_s`` seconds (live config ``client.config("settlement-worker")``,
default 0.5): it first writes the batch record ``/settlements/last`` fenced by its leadership
(``client.put(..., fence=election)`` commits only while it still leads), then asks order-service
to settle, passing its election token, which order-service's database checks (a deposed leader's
older token is refused). When the leader dies, its candidacy ends with its session (after the
session TTL) and the next copy in line takes over; on SIGTERM/SIGINT the leader resigns first, so
the next one takes over at once. Leadership lost while leading (session SUSPENDED or LOST) stops
the job at once; the copy then campaigns again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import requests

import coordkit
from coordkit.errors import BackendUnavailableError, ClosedError, CoordkitError, OwnershipError

from .common import Stopping, connect, enable_metrics, instance_id, setup_logging

__all__ = ["BATCH_KEY", "DEFAULTS", "ELECTION", "SettlementWorker", "main"]

SERVICE = "settlement-worker"
ELECTION = "settlement"
BATCH_KEY = "/settlements/last"  # outside the election's own prefix: candidates live under settlement/
DEFAULTS = {"interval_s": 0.5}


class SettlementWorker:
    """One copy: :meth:`run` campaigns and, while leader, settles, until ``stop`` is set."""

    def __init__(
        self,
        client: coordkit.Client,
        *,
        instance: str,
        order_service_url: str,
        log: logging.Logger | None = None,
    ) -> None:
        self.client = client
        self.instance = instance
        self.order_service_url = order_service_url.rstrip("/")
        self.log = log or logging.getLogger(SERVICE)
        self.election = client.election(ELECTION, identity=instance)
        self.election.on_lost(lambda reason: self.log.warning("lost leadership: %s", reason))
        self.config = client.config(SERVICE, defaults=DEFAULTS)
        self._http = requests.Session()
        self.batches = 0
        self.settled = 0

    @property
    def is_leader(self) -> bool:
        return self.election.is_leader

    def run(self, stop: threading.Event) -> None:
        """Campaign, lead, and campaign again after a loss, until ``stop`` is set (the caller
        closes the client to end a campaign that is still waiting). Returns after resigning."""
        try:
            while not stop.is_set():
                self.log.info("campaigning for leadership of %r", ELECTION)
                try:
                    elected = self.election.campaign(self.instance)
                except BackendUnavailableError as exc:  # the store is away: campaign again later
                    self.log.warning("cannot campaign now: %s", exc)
                    stop.wait(1.0)
                    continue
                if elected:
                    self._lead(stop)
        except ClosedError:
            pass  # the client was closed to stop a waiting campaign
        finally:
            self._http.close()
            self.config.close()

    def _lead(self, stop: threading.Event) -> None:
        self.log.info(
            "became leader (token %s); settling every %ss", self.election.token, self.config.get("interval_s")
        )
        while not stop.is_set() and not self.election.lost.is_set():
            self.settle_once()
            stop.wait(float(self.config.get("interval_s", 0.5)))
        if self.election.lost.is_set():
            return  # logged by the loss callback; run() campaigns again
        try:
            self.election.resign()
            self.log.info("resigned leadership")
        except (OwnershipError, BackendUnavailableError, ClosedError) as exc:
            self.log.warning("resigning: %s", exc)

    def settle_once(self) -> int:
        """One settlement batch as leader; returns how many orders it settled. Never raises for
        a failure that the next batch may not meet (logged instead)."""
        token = self.election.token
        if token is None:
            return 0
        self.batches += 1
        record = {"leader": self.instance, "token": token, "batch": self.batches, "at": time.time()}
        try:
            self.client.put(BATCH_KEY, json.dumps(record), fence=self.election)
        except OwnershipError as exc:
            self.log.warning("not settling: %s", exc)
            return 0
        except CoordkitError as exc:
            self.log.warning("batch %d not recorded: %s", self.batches, exc)
            return 0
        return self._settle_orders(token)

    def _settle_orders(self, token: int) -> int:
        try:
            response = self._http.post(
                f"{self.order_service_url}/settlements",
                json={"worker": self.instance, "token": token},
                timeout=5,
            )
        except requests.RequestException as exc:
            self.log.warning("order-service unreachable: %s", type(exc).__name__)
            return 0
        if response.status_code != 200:
            self.log.warning(
                "order-service refused the settlement (%d): %s", response.status_code, response.text[:200]
            )
            return 0
        settled = len(response.json().get("settled", []))
        if settled:
            self.settled += settled
            self.log.info("settled %d orders (batch %d, token %d)", settled, self.batches, token)
        return settled


def main() -> int:
    me = instance_id()
    log = setup_logging(SERVICE, me)
    stopping = Stopping().install()
    enable_metrics(log)
    client = connect(log, stopping)
    if client is None:
        return 0
    try:
        worker = SettlementWorker(
            client,
            instance=me,
            log=log,
            order_service_url=os.environ.get("ORDER_SERVICE_URL") or "http://127.0.0.1:8080",
        )
        failed: list[BaseException] = []
        thread = threading.Thread(target=_run_worker, args=(worker, stopping, failed), name="settlement")
        thread.start()
        why = stopping.wait()
        log.info("%s: stopping", why)
        if not worker.is_leader:
            client.close()  # ends a campaign still waiting; a leader resigns by itself first
        thread.join(15)
    finally:
        client.close()
    log.info("stopped after %d batches, %d orders settled", worker.batches, worker.settled)
    return 1 if failed else 0


def _run_worker(worker: SettlementWorker, stopping: Stopping, failed: list[BaseException]) -> None:
    """The worker's thread: a crash stops the whole program (with status 1) rather than leaving
    a process that looks alive but no longer campaigns."""
    try:
        worker.run(stopping.event)
    except BaseException as exc:
        worker.log.exception("the settlement loop failed")
        failed.append(exc)
        stopping.event.set()


if __name__ == "__main__":
    raise SystemExit(main())
