"""What the asyncio factories that start something return: awaitable, and an async context
manager that closes what it opened (``await client.discover(...)`` or ``async with ...``)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, Generic, Protocol, TypeVar

from ..errors import ClosedError

__all__ = ["Opening"]


class _Closable(Protocol):
    async def aclose(self) -> None: ...


H = TypeVar("H", bound=_Closable)


class Opening(Generic[H]):
    """``await opening`` gives the handle once started; ``async with opening as handle`` also
    closes it on exit. Awaited once: the start is not repeated."""

    def __init__(self, start: Callable[[], Coroutine[Any, Any, H]]) -> None:
        self._start = start
        self._handle: H | None = None
        self._started = False

    def __await__(self) -> Generator[Any, None, H]:
        return self._open().__await__()

    async def _open(self) -> H:
        if self._started:
            raise ClosedError("this start was awaited already; call the factory again")
        self._started = True
        self._handle = await self._start()
        return self._handle

    async def __aenter__(self) -> H:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self._handle is not None:
            await self._handle.aclose()
