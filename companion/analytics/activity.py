"""New users, DAU/WAU/MAU, messages and voice notes per day.

Messages are counted by metadata only (role, source, time; the text is never read), with the
`messages.role_created` index narrowing each pipeline to the period; new users are the `consent`
events of the period (`events.name_at`). One pass over the period's user messages gives DAU,
messages and voice notes together. This is the raw reference; the report the owner sees is
`rolled.activity_report`, from the daily sets of people (`companion.analytics.people`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.period import DAY_FORMAT, Period, closed, day_key
from companion.analytics.reports import ActivityReport
from companion.domain.models import EventName, MessageRole, MessageSource
from companion.storage import collections as c
from companion.storage.documents import Document


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


async def activity_report(
    db: AsyncDatabase[Document], period: Period, *, now: datetime
) -> ActivityReport:
    """Counted from the raw collections: the reference for `rolled.activity_report`. WAU and
    MAU are the 7 and 30 days ending with the period's last closed day (the period's end when
    none is closed)."""
    messages = await daily_messages(db, period)
    new_users = await daily_new_users(db, period)
    ended = [day for day in period.days if closed(day, now)]
    until = Period.between(ended[-1], ended[-1]).until if ended else period.until
    keys = [day_key(day) for day in period.days]
    return ActivityReport(
        period=period,
        new_users=[new_users.get(key, 0) for key in keys],
        dau=[messages.get(key, (0, 0, 0))[0] for key in keys],
        messages=[messages.get(key, (0, 0, 0))[1] for key in keys],
        voice=[messages.get(key, (0, 0, 0))[2] for key in keys],
        wau=await distinct_writers(db, until - timedelta(days=7), until),
        mau=await distinct_writers(db, until - timedelta(days=30), until),
    )
