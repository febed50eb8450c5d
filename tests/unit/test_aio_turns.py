"""``coordkit.aio.turns``: the turn on a name shared by a client's asyncio handles and the sync
recipes built on its store."""

from __future__ import annotations

import asyncio
import threading

import pytest

from coordkit.aio.turns import NameTurn, give_back, on_loop

pytestmark = pytest.mark.unit


def test_a_turn_given_back_after_its_loop_closed_frees_the_sync_handles_part() -> None:
    """A cleanup that ends on a worker after the loop closed (asyncio.run returned with the
    client still open) must still free the threading lock, or every sync handle of the name
    waits forever."""
    shared = threading.Lock()
    turn = NameTurn(shared)
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(turn.acquire())
    loop.close()
    worker = threading.Thread(target=give_back, args=(turn, loop))
    worker.start()
    worker.join(5)
    assert shared.acquire(timeout=1)


def test_an_acquire_given_up_while_a_sync_handle_holds_holds_nothing() -> None:
    shared = threading.Lock()
    turn = NameTurn(shared)
    assert shared.acquire()

    async def main() -> None:
        assert on_loop(asyncio.get_running_loop())
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await turn.acquire()
        assert not turn._local.locked()
        shared.release()
        assert await turn.acquire() and shared.locked() and turn.locked()
        turn.release()
        assert not turn.locked()

    asyncio.run(main())
    other = asyncio.new_event_loop()
    try:
        assert not on_loop(other)
    finally:
        other.close()
