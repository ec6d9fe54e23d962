"""D1/D7/D30 retention of daily cohorts.

A cohort is the people who accepted the terms on one day of the period (`consent` events);
someone is retained on day +N when they sent a message that day (metadata only). The people
who wrote on the days that matter (each cohort day +1, +7, +30) are read as (person, day) pairs
and matched here: the cost grows with the messages of about three times the period.
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


def _windows(period: Period, before: datetime) -> list[tuple[datetime, datetime]]:
    """The days some cohort's day +1, +7 or +30 falls on, as merged ranges, up to `before`."""
    ranges = sorted(
        (period.since + timedelta(days=k), min(period.until + timedelta(days=k), before))
        for k in RETENTION_DAYS
    )
    merged: list[tuple[datetime, datetime]] = []
    for start, end in ranges:
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


async def _active_days(
    db: AsyncDatabase[Document], windows: list[tuple[datetime, datetime]]
) -> set[tuple[int, str]]:
    """(person, day) for everyone who wrote in the windows: role-and-range queries served by
    `messages.role_created` (no `$in` of ids: SecantusDB would scan every message for it)."""
    found: set[tuple[int, str]] = set()
    for since, until in windows:
        pipeline: list[Document] = [
            {
                "$match": {
                    "role": MessageRole.USER.value,
                    "created_at": {"$gte": since, "$lt": until},
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
        async for row in await db[c.MESSAGES].aggregate(pipeline):
            found.add((int(row["_id"]["user"]), str(row["_id"]["day"])))
    return found


async def retention_report(
    db: AsyncDatabase[Document], period: Period, *, now: datetime
) -> RetentionReport:
    cohorts = await _cohorts(db, period)
    today = now.astimezone(UTC).date()
    # A day that has not ended yet is not counted: people may still come back in it.
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    active = await _active_days(db, _windows(period, midnight)) if cohorts else set()
    result: list[Cohort] = []
    for day in period.days:
        members = cohorts.get(day, set())
        retained: dict[int, int | None] = {}
        for offset in RETENTION_DAYS:
            target = day + timedelta(days=offset)
            retained[offset] = (
                None
                if target >= today
                else sum((person, target.isoformat()) in active for person in members)
            )
        result.append(Cohort(day=day, size=len(members), retained=retained))
    return RetentionReport(period=period, cohorts=result)
