#!/usr/bin/env python3
"""Check that python-etcd3, imported through coordkit's shim, really talks to etcd.

Run it under each protobuf that coordkit supports (3.20.x and the latest):

    python tests/compat/check_etcd3_import.py --endpoint 127.0.0.1:2379

It prints each step it verified and exits 1 on the first failure. Keys live
under a fresh prefix that is deleted at the end.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coordkit.backends.etcd.compat import import_etcd3


def _check(label: str, condition: bool, detail: Any = "") -> None:
    if not condition:
        raise AssertionError(f"{label}: {detail}")
    print(f"ok   {label}" + (f" ({detail})" if detail != "" else ""))


def _environment() -> None:
    from google.protobuf.internal import api_implementation

    versions = {d: metadata.version(d) for d in ("etcd3", "protobuf", "grpcio", "tenacity", "six")}
    print("versions:", ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("protobuf implementation:", api_implementation.Type())


def _quiet_closed_channel(args: threading.ExceptHookArgs) -> None:
    # python-etcd3 0.12's watch thread outlives client.close() and dies with this
    # ValueError (upstream issue kragniz/python-etcd3#997): harmless, but noisy in CI logs.
    thread = args.thread.name if args.thread else ""
    if thread.startswith("etcd3_watch_") and "Channel closed" in str(args.exc_value):
        print(f"note {thread} ended after client.close() (python-etcd3 #997)", file=sys.stderr)
        return
    threading.__excepthook__(args)


def _run(endpoint: str, timeout: float) -> None:
    etcd3 = import_etcd3()
    _check("import_etcd3() returned the etcd3 module", etcd3.__name__ == "etcd3")
    _environment()
    from etcd3.etcdrpc import kv_pb2

    host, _, port = endpoint.rpartition(":")
    client = etcd3.client(host=host, port=int(port), timeout=timeout)
    prefix = f"/coordkit-compat/{uuid.uuid4().hex}/"
    try:
        _check("server status", client.status().version != "", client.status().version)

        client.put(prefix + "a", b"1")
        client.put(prefix + "b", "2")
        value, meta = client.get(prefix + "a")
        _check("put/get", value == b"1" and meta.create_revision > 0, meta.create_revision)
        got = sorted((m.key, v) for v, m in client.get_prefix(prefix))
        _check("get_prefix", got == [(f"{prefix}a".encode(), b"1"), (f"{prefix}b".encode(), b"2")])

        key = prefix + "txn"
        tx = client.transactions

        def create_if_absent(val: str) -> tuple[bool, list[Any]]:
            won: bool
            responses: list[Any]
            won, responses = client.transaction(
                compare=[tx.create(key) == 0],
                success=[tx.put(key, val)],
                failure=[tx.get(key)],
            )
            return won, responses

        won, _ = create_if_absent("first")
        _check("txn compare create_revision == 0 succeeds on a new key", won is True)
        won, responses = create_if_absent("second")
        stored = responses[0][0][0] if responses and responses[0] else None
        _check("txn on an existing key runs the failure branch", not won and stored == b"first")

        lease = client.lease(30)
        refreshed = lease.refresh()
        ttl = refreshed[0].TTL
        _check("lease grant + refresh", ttl > 0, f"id={lease.id}, ttl={ttl}")
        client.put(prefix + "leased", b"x", lease=lease)
        _, meta = client.get(prefix + "leased")
        _check("put with lease", meta.lease_id == lease.id)
        lease.revoke()
        _check("lease revoke deletes its key", client.get(prefix + "leased")[0] is None)

        seen: list[Any] = []
        arrived = threading.Event()

        def on_watch(response: Any) -> None:
            seen.extend(getattr(response, "events", [response]))
            arrived.set()

        watch_id = client.add_watch_callback(prefix + "w", on_watch)
        try:
            client.put(prefix + "w", b"watched")
            _check("watch callback fired", arrived.wait(timeout))
        finally:
            client.cancel_watch(watch_id)
        ev = seen[0]
        _check(
            "watch delivered a PutEvent",
            isinstance(ev, etcd3.events.PutEvent) and ev.value == b"watched",
            type(ev).__name__,
        )
        _check("kv_pb2.Event enum", kv_pb2.Event.PUT == 0 and kv_pb2.Event.DELETE == 1)
    finally:
        client.delete_prefix(prefix)
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="etcd client endpoint, host:port")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-step timeout, seconds")
    args = parser.parse_args(argv)
    started = time.monotonic()
    threading.excepthook = _quiet_closed_channel
    try:
        _run(args.endpoint, args.timeout)
    except Exception as exc:  # noqa: BLE001 - this script's whole job is to report any failure as a failed check
        print(f"FAIL {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"all etcd3 compat checks passed in {time.monotonic() - started:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
