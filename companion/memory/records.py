"""What the retriever ranks: one user's records (facts or past exchanges) and their sources."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from companion.memory.embedder import Vector

UserId = int


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One searchable item. `scope` lets a search keep to a subset (e.g. one persona)."""

    id: str
    text: str
    time: datetime
    importance: float = 3.0
    scope: str = ""
    vector: Vector | None = None
    # An exchange's text starts with the user's own message: its length in characters (0:
    # not an exchange, or no user words). BM25 may count those words more than the reply's.
    user_chars: int = 0


@dataclass(frozen=True, slots=True)
class ScoredId:
    id: str
    score: float  # the fused, boosted score the ranking used
    dense: float  # cosine similarity with the query (-1..1)
    lexical: float  # raw BM25 score (0 = no shared stem)


class RecordSource(Protocol):
    """Where a user's records (with their vectors) are read from on a cold cache."""

    async def load(self, user_id: UserId) -> list[MemoryRecord]: ...


class DenseSearch(Protocol):
    """An external nearest-neighbour search (MongoDB `$vectorSearch`): (id, cosine) pairs."""

    async def __call__(
        self, user_id: UserId, vector: Vector, limit: int, scope: str | None
    ) -> list[tuple[str, float]]: ...


class InMemoryRecordSource:
    """A `RecordSource` that holds records in a dict: for benchmarks and tests."""

    def __init__(self) -> None:
        self.records: dict[UserId, dict[str, MemoryRecord]] = {}

    def put(self, user_id: UserId, records: Sequence[MemoryRecord]) -> None:
        bucket = self.records.setdefault(user_id, {})
        for record in records:
            bucket[record.id] = record

    def delete(self, user_id: UserId, ids: Collection[str]) -> None:
        bucket = self.records.get(user_id, {})
        for record_id in ids:
            bucket.pop(record_id, None)

    async def load(self, user_id: UserId) -> list[MemoryRecord]:
        return list(self.records.get(user_id, {}).values())
