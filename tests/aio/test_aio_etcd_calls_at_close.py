"""etcd's asyncio calls in flight when the client closes (real etcd, behind a proxy that holds
the replies so that the calls stay in flight).

Closing the loop's gRPC channels cancels their calls, and grpc.aio raises CancelledError into
each awaiting task although nobody cancelled it. A waiter woken by the close that was reading
its queue then ended with CancelledError instead of ClosedError. What holds: a caller that was
not cancelled gets ClosedError, one that was cancelled still gets CancelledError.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

import pytest

import coordkit.aio
from coordkit.errors import ClosedError
from coordkit.testing import EtcdServer, FaultProxy

pytestmark = [
    pytest.mark.etcd,
    # Only Task.cancelling() (3.11+) tells the channel's cancel from the caller's; before, the
    # call raises CancelledError as it always did.
    pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling() (Python 3.11+)"),
]


def test_a_call_in_flight_when_the_backend_closes_raises_closed_error(arun: Callable[..., Any]) -> None:
    async def main() -> None:
        with EtcdServer() as server, FaultProxy(server.endpoints) as proxy:
            aio = await coordkit.aio.connect(proxy.url("etcd"), timeout=10)
            try:
                await aio.put("k", "v")
                proxy.hold_replies()
                plain, cancelled = asyncio.ensure_future(aio.get("k")), asyncio.ensure_future(aio.get("k"))
                await asyncio.sleep(0)  # both run up to their gRPC call, and wait for its answer
                cancelled.cancel()
                # What aclose() does before it closes the channels: the store (its session) first.
                # (aclose itself would wait for the session's revoke, whose reply is held too.)
                aio.sync.backend._conn.close()
                await aio._ops.aclose()
                with pytest.raises(ClosedError):
                    await plain
                with pytest.raises(asyncio.CancelledError):
                    await cancelled
            finally:
                proxy.heal()
                await aio.aclose()

    arun(main())
