"""What the lock conformance modules share: their deadline and a wait for a queue's length."""

from __future__ import annotations

import coordkit
from coordkit.testing import eventually

DEADLINE = 15.0


def wait_queue_length(client: coordkit.Client, name: str, length: int) -> None:
    """Until the queue of lock ``name`` holds ``length`` contenders (AssertionError at DEADLINE)."""
    eventually(
        lambda: len(client.backend.queue_list(name)[0]) == length,
        timeout=DEADLINE,
        interval=0.01,
        message=f"queue {name} to reach {length} contenders",
    )
