"""New users, DAU/WAU/MAU, messages and voice notes per day.

Messages are counted by metadata only (role, source, time; the text is never read), with the
`messages.role_created` index narrowing each pipeline to the period; new users are the `consent`
events of the period (`events.name_at`). One pass over the period's user messages gives DAU,
messages and voice notes together; closed days are read from their rollups
(`companion.analytics.rollups`), so only the open day is counted raw.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.period import DAY_FORMAT, Period, day_key
from companion.analytics.reports import ActivityReport
from companion.domain.models import EventName, MessageRole, MessageSource
from companion.storage import collections as c
from companion.storage.documents import Document

if TYPE_CHECKING:
    from companion.analytics.rollups import DailyRollups


def _day(field: str) -> Document:
    return {"$dateToString": {"format": DAY_FORMAT, "date": f"${field}"}}


def user_messages(since: datetime, until: datetime) -> Document:
    """The `$match` of the messages people sent (not the personas' replies) in [since, until)."""
    return {"role": MessageRole.USER.value, "created_at": {"$gte": since, "$lt": until}}


async def daily_messages(
    db: AsyncDatabase[Document], period: Period
) -> dict[str, tuple[int, int, int]]:
    """Day -> (active people, messages, voice notes)."""
    pipeline: list[Document] = [
        {"$match": user_messages(period.since, period.until)},
        {
            "$group": {
                "_id": {"day": _day("created_at"), "user": "$user_id"},
                "messages": {"$sum": 1},
                "voice": {
                    "$sum": {"$cond": [{"$eq": ["$source", MessageSource.VOICE.value]}, 1, 0]}
                },
            }
        },
        {
            "$group": {
                "_id": "$_id.day",
                "people": {"$sum": 1},
                "messages": {"$sum": "$messages"},
                "voice": {"$sum": "$voice"},
            }
        },
    ]
    found: dict[str, tuple[int, int, int]] = {}
    async for row in await db[c.MESSAGES].aggregate(pipeline):
        found[str(row["_id"])] = (int(row["people"]), int(row["messages"]), int(row["voice"]))
    return found


async def distinct_writers(db: AsyncDatabase[Document], since: datetime, until: datetime) -> int:
    """How many people sent at least one message in [since, until)."""
    pipeline: list[Document] = [
        {"$match": user_messages(since, until)},
        {"$group": {"_id": "$user_id"}},
        {"$count": "people"},
    ]
    async for row in await db[c.MESSAGES].aggregate(pipeline):
        return int(row["people"])
    return 0


async def daily_new_users(db: AsyncDatabase[Document], period: Period) -> dict[str, int]:
    """Day -> people who accepted the terms that day (one `consent` event per person)."""
    pipeline: list[Document] = [
        {
            "$match": {
                "name": EventName.CONSENT.value,
                "at": {"$gte": period.since, "$lt": period.until},
            }
        },
        {"$group": {"_id": {"day": _day("at"), "user": "$user_id"}}},
        {"$group": {"_id": "$_id.day", "people": {"$sum": 1}}},
    ]
    return {
        str(row["_id"]): int(row["people"]) async for row in await db[c.EVENTS].aggregate(pipeline)
    }


async def activity_report(period: Period, rollups: DailyRollups) -> ActivityReport:
    days = await rollups.series(period)
    keys = [day_key(day) for day in period.days]
    wau, mau = await rollups.reach(period)
    return ActivityReport(
        period=period,
        new_users=[days[key].new_users for key in keys],
        dau=[days[key].people for key in keys],
        messages=[days[key].messages for key in keys],
        voice=[days[key].voice for key in keys],
        wau=wau,
        mau=mau,
    )
