"""When the user last got a crisis reply (`EventName.CRISIS`, recorded by the dialogue
service), read from the events collection by the `user_at` index's keys exactly: the embedded
server scans the whole collection for a query on `user_id` alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.domain.models import EventName
from companion.storage import collections as c


class CrisisEvents:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._events = db[c.EVENTS]

    async def last_crisis(self, user_id: int, since: datetime) -> datetime | None:
        cursor = self._events.find(
            {"user_id": user_id, "at": {"$gte": since}}, {"name": 1, "at": 1}
        )
        times = [d["at"] async for d in cursor if d.get("name") == EventName.CRISIS.value]
        return max(times) if times else None
