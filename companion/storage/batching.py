"""Group commit: writes that callers make at about the same time go to the database together.

Each `GroupCommit.submit` waits for its own result, exactly as a single write would, but the
documents of concurrent callers share one command (`insert_many`, `bulk_write`). Batching is
natural: the first write goes out at once; whatever arrives while it is in flight goes out in
the next command as soon as it returns. An idle service therefore adds no delay, and a busy
one makes fewer, larger round trips, which is where a database spends its time per write
(measured on the embedded server: an insert alone costs 1.8 ms of server CPU, one of ten in an
`insert_many` 0.7 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

log = logging.getLogger(__name__)

T = TypeVar("T")

# What a flush returns: per item, None (written) or the error of that item alone.
Flush = Callable[[list[T]], Awaitable[Sequence[BaseException | None]]]

# MongoDB's error code for a unique index violation.
DUPLICATE_KEY = 11000


class GroupCommit(Generic[T]):
    def __init__(self, flush: Flush[T], *, max_batch: int = 256, name: str = "writes") -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._name = name
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Write `item` with whatever else is waiting; raises the item's own error."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name=f"group-commit-{self._name}")
        # A caller that gives up (cancelled) does not cancel the write: it may be on the wire.
        await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (for shutdown)."""
        while self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._runner)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    outcomes: Sequence[BaseException | None] = await self._flush(
                        [item for item, _ in batch]
                    )
                except Exception as exc:  # the whole command failed: every item gets the error
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():
                        continue
                    if outcome is None:
                        future.set_result(None)
                    else:
                        future.set_exception(outcome)
        finally:
            self._runner = None
            if self._pending:  # cancelled mid-way (shutdown): fail the rest, never hang them
                for _, future in self._pending:
                    if not future.done():
                        future.set_exception(RuntimeError(f"{self._name}: writer stopped"))
                self._pending.clear()


def bulk_outcomes(size: int, error: BulkWriteError) -> list[BaseException | None]:
    """Per-item errors of an unordered bulk command, as a single write would have raised them."""
    outcomes: list[BaseException | None] = [None] * size
    for failure in error.details.get("writeErrors", []):
        index = int(failure["index"])
        code = int(failure.get("code", 0))
        message = str(failure.get("errmsg", "write failed"))
        kind = DuplicateKeyError if code == DUPLICATE_KEY else WriteError
        outcomes[index] = kind(message, code, failure)
    if error.details.get("writeConcernErrors"):
        # Written but not confirmed as asked: report it to everyone rather than claim success.
        outcomes = [outcome or error for outcome in outcomes]
    return outcomes
