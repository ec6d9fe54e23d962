"""D1/D7/D30 retention of daily cohorts.

A cohort is the people who accepted the terms on one day of the period (`consent` events);
someone is retained on day +N when they sent a message that day (metadata only). One pipeline
reads the cohort's messages from the day after the period starts to 30 days after it ends, as
(person, day) pairs, through `messages.user_created` with the cohort's ids.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.period import DAY_FORMAT, Period
from companion.analytics.reports import RETENTION_DAYS, Cohort, RetentionReport
from companion.domain.models import EventName, MessageRole
from companion.storage import collections as c
from companion.storage.documents import Document


async def _cohorts(db: AsyncDatabase[Document], period: Period) -> dict[date, set[int]]:
    pipeline: list[Document] = [
        {
            "$match": {
                "name": EventName.CONSENT.value,
                "at": {"$gte": period.since, "$lt": period.until},
            }
        },
        {"$group": {"_id": "$user_id", "at": {"$min": "$at"}}},
    ]
    cohorts: dict[date, set[int]] = defaultdict(set)
    async for row in await db[c.EVENTS].aggregate(pipeline):
        cohorts[row["at"].astimezone(UTC).date()].add(int(row["_id"]))
    return cohorts


async def _active_days(
    db: AsyncDatabase[Document], people: list[int], since: datetime, until: datetime
) -> set[tuple[int, str]]:
    pipeline: list[Document] = [
        {
            "$match": {
                "user_id": {"$in": people},
                "created_at": {"$gte": since, "$lt": until},
                "role": MessageRole.USER.value,
            }
        },
        {
            "$group": {
                "_id": {
                    "user": "$user_id",
                    "day": {"$dateToString": {"format": DAY_FORMAT, "date": "$created_at"}},
                }
            }
        },
    ]
    return {
        (int(row["_id"]["user"]), str(row["_id"]["day"]))
        async for row in await db[c.MESSAGES].aggregate(pipeline)
    }


async def retention_report(
    db: AsyncDatabase[Document], period: Period, *, now: datetime
) -> RetentionReport:
    cohorts = await _cohorts(db, period)
    people = sorted({person for members in cohorts.values() for person in members})
    longest = max(RETENTION_DAYS)
    active = (
        await _active_days(
            db, people, period.since + timedelta(days=1), period.until + timedelta(days=longest)
        )
        if people
        else set()
    )
    today = now.astimezone(UTC).date()
    result: list[Cohort] = []
    for day in period.days:
        members = cohorts.get(day, set())
        retained: dict[int, int | None] = {}
        for offset in RETENTION_DAYS:
            target = day + timedelta(days=offset)
            # A day that has not ended yet is not counted: people may still come back in it.
            retained[offset] = (
                None
                if target >= today
                else sum((person, target.isoformat()) in active for person in members)
            )
        result.append(Cohort(day=day, size=len(members), retained=retained))
    return RetentionReport(period=period, cohorts=result)
