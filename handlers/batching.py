"""Group commit: writes that arrive together share one transaction.

Under load, recording a webhook's update and marking a reply sent are many small transactions,
each a commit (and on SQLite a turn at the one writer). A `GroupCommit` collects the items
submitted while its previous transaction was being written and writes them all in the next one:
each caller still waits for its own item to be committed (a webhook answers 200 only after its
update is recorded), but a hundred callers pay for one commit instead of a hundred. One caller
alone pays nothing extra: its item is written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(Generic[Item, Result]):
    """`await submit(item)` returns once `write` has committed a batch holding `item`.

    `write(items)` writes and commits a batch and returns one result per item, in order; if it
    raises, every caller of that batch gets the exception (nothing of the batch was committed).
    """

    def __init__(self, write: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], limit: int = 200) -> None:
        self._write = write
        self._limit = limit
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._limit], self._pending[self._limit:]
            try:
                results = await self._write([item for item, _ in batch])
            except BaseException as problem:  # noqa: BLE001 - handed to every caller of the batch
                for _, future in batch:
                    if not future.done():
                        future.set_exception(problem)
                if not isinstance(problem, Exception):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
