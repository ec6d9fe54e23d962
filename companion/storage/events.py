"""Funnel and audit events (`events` collection)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import Event
from companion.storage import collections as c
from companion.storage.documents import Document, bson_ready


def _time_range(since: datetime | None, until: datetime | None) -> Document:
    at: Document = {}
    if since is not None:
        at["$gte"] = since
    if until is not None:
        at["$lt"] = until
    return {"at": at} if at else {}


class EventRepository:
    """Implements `companion.domain.ports.EventSink`, plus the counts the funnel needs."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db[c.EVENTS]

    async def record(self, event: Event) -> None:
        await self._events.insert_one(bson_ready(event.model_dump(mode="python")))

    async def for_user(self, user_id: int, *, limit: int = 0) -> list[Event]:
        """The user's events, oldest first (`limit` 0: all)."""
        cursor = self._events.find({"user_id": user_id}).sort("at", ASCENDING).limit(limit)
        return [Event.model_validate(document) async for document in cursor]

    async def recent(self, *, name: str | None = None, limit: int = 100) -> list[Event]:
        query: Document = {} if name is None else {"name": name}
        cursor = self._events.find(query).sort("at", DESCENDING).limit(limit)
        return [Event.model_validate(document) async for document in cursor]

    async def count_by_name(
        self, name: str, *, since: datetime | None = None, until: datetime | None = None
    ) -> int:
        """How many `name` events happened in [since, until)."""
        return await self._events.count_documents({"name": name, **_time_range(since, until)})

    async def users_by_name(
        self,
        names: Iterable[str],
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, int]:
        """For each event name, how many distinct users had it in [since, until): a funnel."""
        wanted = list(dict.fromkeys(names))
        counts = dict.fromkeys(wanted, 0)
        pipeline: list[Document] = [
            {"$match": {"name": {"$in": wanted}, **_time_range(since, until)}},
            {"$group": {"_id": {"name": "$name", "user_id": "$user_id"}}},
            {"$group": {"_id": "$_id.name", "users": {"$sum": 1}}},
        ]
        async for row in await self._events.aggregate(pipeline):
            counts[str(row["_id"])] = int(row["users"])
        return counts

    async def has_event(self, user_id: int, name: str) -> bool:
        return await self._events.find_one({"user_id": user_id, "name": name}) is not None
