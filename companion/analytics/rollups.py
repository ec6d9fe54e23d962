"""Daily rollups: the activity series of closed days, computed once and kept.

Counting a period's messages from the raw collection costs one document read per message; on
SecantusDB that is ~0.1 ms each, so 90 days of a busy bot take a minute. A day that has ended
never changes (messages are stamped when stored), so its numbers are computed the first time a
report needs them, by one pass over the missing days, and kept in `analytics_daily`. Only the
open day (today) is counted raw each time.

WAU and MAU are distinct people over 7 and 30 days, which daily counts cannot add up to; they
are given as of the end of the period's last closed day and kept on that day's document once
computed (one pass over its 30 days of messages). A period with no closed day counts them raw.
The documents hold counts only, never ids; an erasure leaves them as they are (anonymous).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.activity import daily_messages, daily_new_users, distinct_writers
from companion.analytics.period import DAY, Period, day_key
from companion.storage import collections as c
from companion.storage.documents import Document

# A day counts as closed this long after its midnight: a message stamped by a worker whose clock
# is a little behind still lands in an open day.
CLOSE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Day:
    people: int = 0
    messages: int = 0
    voice: int = 0
    new_users: int = 0


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _runs(days: list[date]) -> list[Period]:
    """Consecutive days as periods: one raw pass per run of missing days."""
    runs: list[Period] = []
    for day in days:
        if runs and runs[-1].until == _midnight(day):
            runs[-1] = Period(runs[-1].since, _midnight(day) + DAY)
        else:
            runs.append(Period(_midnight(day), _midnight(day) + DAY))
    return runs


async def _raw(db: AsyncDatabase[Document], period: Period) -> dict[str, Day]:
    messages = await daily_messages(db, period)
    new_users = await daily_new_users(db, period)
    days: dict[str, Day] = {}
    for day in period.days:
        key = day_key(day)
        people, count, voice = messages.get(key, (0, 0, 0))
        days[key] = Day(people, count, voice, new_users.get(key, 0))
    return days


class DailyRollups:
    def __init__(self, db: AsyncDatabase[Document], clock: Callable[[], datetime]) -> None:
        self._db = db
        self._daily = db[c.ANALYTICS_DAILY]
        self._clock = clock

    def _closed(self, day: date) -> bool:
        return _midnight(day) + DAY + CLOSE_AFTER <= self._clock()

    async def series(self, period: Period) -> dict[str, Day]:
        """Day key -> its numbers, for every day of the period."""
        closed = [day for day in period.days if self._closed(day)]
        found: dict[str, Day] = {}
        if closed:
            span = {"$gte": day_key(closed[0]), "$lte": day_key(closed[-1])}
            async for doc in self._daily.find({"_id": span}):
                found[str(doc["_id"])] = Day(
                    int(doc["people"]),
                    int(doc["messages"]),
                    int(doc["voice"]),
                    int(doc["new_users"]),
                )
        missing = [day for day in closed if day_key(day) not in found]
        for run in _runs(missing):
            computed = await _raw(self._db, run)
            await self._store(computed)
            found.update(computed)
        open_days = [day for day in period.days if not self._closed(day)]
        for run in _runs(open_days):
            found.update(await _raw(self._db, run))
        return found

    async def _store(self, days: dict[str, Day]) -> None:
        now = self._clock()
        writes = [
            UpdateOne(
                {"_id": key},
                {
                    "$set": {
                        "people": day.people,
                        "messages": day.messages,
                        "voice": day.voice,
                        "new_users": day.new_users,
                        "computed_at": now,
                    }
                },
                upsert=True,
            )
            for key, day in days.items()
        ]
        if writes:
            await self._daily.bulk_write(writes, ordered=False)

    async def reach(self, period: Period) -> tuple[int, int]:
        """(WAU, MAU) for the 7 and 30 days ending with the period's last closed day (kept on
        that day's document), or with the period itself when none of its days is closed."""
        closed = [day for day in period.days if self._closed(day)]
        if not closed:
            return await self._count_reach(period.until)
        key = day_key(closed[-1])
        doc = await self._daily.find_one({"_id": key}, projection={"wau": 1, "mau": 1})
        if doc is not None and "wau" in doc and "mau" in doc:
            return int(doc["wau"]), int(doc["mau"])
        wau, mau = await self._count_reach(_midnight(closed[-1]) + DAY)
        await self._daily.update_one({"_id": key}, {"$set": {"wau": wau, "mau": mau}}, upsert=True)
        return wau, mau

    async def _count_reach(self, until: datetime) -> tuple[int, int]:
        wau = await distinct_writers(self._db, until - timedelta(days=7), until)
        mau = await distinct_writers(self._db, until - timedelta(days=30), until)
        return wau, mau
