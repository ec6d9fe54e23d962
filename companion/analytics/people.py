"""Daily sets of people: the rollups of the reports that count distinct people over a period.

Funnel, personas, paywall, PRO and retention count *distinct* people over the whole period,
which daily counts cannot add up to. So for each closed UTC day and each kind (an event name,
or the people's messages, by persona) this keeps who had it that day and how many times each
did, in `analytics_people` (`_id` "<kind>:<YYYY-MM-DD>"). A period's distinct people are the
union of its days' sets: the same numbers as the raw aggregation. A closed day is computed from
the raw collections the first time a report needs it (one pass per run of missing days) and
kept; the open day (today) is kept up to 10 minutes ago and moved on by each report, so a
report counts live only what came in since the last one (`PeopleRollups`).

People are kept as pseudonyms (`companion.storage.people_sets`: a keyed 64-bit permutation of
the user id, so two people never share one and the counts stay exact). Each document records
the key's id: after a key rotation its day is computed again. The erasure takes the person,
with their counts, out of every day (`forget_person`), so the numbers stay what the raw
collections give after the erasure. The sets are derived from events and messages, which the
export already holds, so they are not exported.

A late event (stamped into a day already kept: a clock more than 10 minutes behind, or data
imported afterwards) is not counted until the day is dropped (`drop`, `companion stats
rebuild`), which makes the next report compute it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.activity import user_messages
from companion.analytics.period import (
    CLOSE_AFTER,
    DAY,
    DAY_FORMAT,
    Period,
    closed,
    day_key,
    midnight,
)
from companion.domain.models import MessageSource
from companion.storage import collections as c
from companion.storage.documents import Document
from companion.storage.people_sets import (
    COUNTS,
    EMPTY,
    FORMAT,
    IDS,
    Groups,
    Pseudonyms,
    Tally,
    pack,
    unpack,
)

MESSAGES = "messages"  # the kind of the people's messages; any other kind is an event name
# Of MESSAGES, the group of voice notes (to any persona); the others are persona ids.
VOICE = "~voice"


def union(tallies: Iterable[Tally]) -> np.ndarray:
    """The distinct people of all the tallies, sorted."""
    arrays = [tally.people for tally in tallies if len(tally.people)]
    return np.unique(np.concatenate(arrays)) if arrays else EMPTY.people


def common(a: np.ndarray, b: np.ndarray) -> int:
    """How many people two sorted sets share."""
    return len(np.intersect1d(a, b, assume_unique=True))


def _runs(days: Sequence[date]) -> list[Period]:
    """Consecutive days as periods: one raw pass per run."""
    runs: list[Period] = []
    for day in sorted(days):
        if runs and runs[-1].until == midnight(day):
            runs[-1] = Period(runs[-1].since, midnight(day) + DAY)
        else:
            runs.append(Period(midnight(day), midnight(day) + DAY))
    return runs


def personas(groups: Groups) -> Groups:
    """The persona groups of a day's messages (not the voice notes)."""
    return {group: tally for group, tally in groups.items() if group != VOICE}


def _add(a: Tally, b: Tally) -> Tally:
    people, at = np.unique(np.concatenate([a.people, b.people]), return_inverse=True)
    counts = np.bincount(at, weights=np.concatenate([a.counts, b.counts]), minlength=len(people))
    return Tally(people, counts.astype(COUNTS))


def merge(a: Groups, b: Groups) -> Groups:
    """Two parts of one day: the people of both, their counts added."""
    merged = dict(a)
    for group, tally in b.items():
        merged[group] = _add(merged[group], tally) if group in merged else tally
    return merged


def _pipeline(kind: str, since: datetime, until: datetime) -> list[Document]:
    """(day, group, person) -> times, for one kind in [since, until): `name_at`/`role_created`."""
    match: Document
    if kind == MESSAGES:
        match, stamp, group = user_messages(since, until), "$created_at", "$persona_id"
    else:
        match = {"name": kind, "at": {"$gte": since, "$lt": until}}
        stamp, group = "$at", ""
    day = {"$dateToString": {"format": DAY_FORMAT, "date": stamp}}
    voice = {"$cond": [{"$eq": ["$source", MessageSource.VOICE.value]}, 1, 0]}
    return [
        {"$match": match},
        {
            "$group": {
                "_id": {"day": day, "g": group, "user": "$user_id"},
                "n": {"$sum": 1},
                "voice": {"$sum": voice},
            }
        },
    ]


@dataclass(frozen=True, slots=True)
class _Kept:
    groups: Groups
    through: datetime  # counted up to here (exclusive); the next midnight once the day closed


class PeopleRollups:
    """A day is kept up to its watermark, 10 minutes before now (`CLOSE_AFTER`: a message
    stamped by a worker whose clock is a little behind still lands after it); after the end of
    the day the watermark is the next midnight and the day is closed. A report reads the kept
    part, moves the watermark on with what came in since, and counts the last minutes live:
    the open day costs what arrived since the last report, not the whole day."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        pseudonym: Callable[[int], str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._kept = db[c.ANALYTICS_PEOPLE]
        self._names = Pseudonyms(pseudonym)
        self._clock = clock

    def closed(self, day: date) -> bool:
        return closed(day, self._clock())

    async def events(self, name: str, days: Sequence[date]) -> dict[date, Tally]:
        found = await self.days(name, days)
        return {day: groups.get("", EMPTY) for day, groups in found.items()}

    async def writers(self, days: Sequence[date]) -> dict[date, np.ndarray]:
        """Day -> the people who sent a message that day, to any persona."""
        found = await self.days(MESSAGES, days)
        return {day: union(personas(groups).values()) for day, groups in found.items()}

    async def days(self, kind: str, days: Sequence[date]) -> dict[date, Groups]:
        """Each of `days` -> its groups of `kind`, as the raw collections have them."""
        wanted = sorted(set(days))
        if not wanted:
            return {}
        kept = await self._read(kind, wanted)
        watermark = self._clock() - CLOSE_AFTER
        found: dict[date, Groups] = {}
        missing: list[date] = []
        for day in wanted:
            start, end = midnight(day), midnight(day) + DAY
            mark = min(end, max(start, watermark))
            part = kept.get(day, _Kept({}, start))
            if part.through >= end:
                found[day] = part.groups
            elif mark == end and part.through == start:
                missing.append(day)  # closed and never kept: computed with its neighbours
            else:
                groups, through = part.groups, part.through
                if mark > through:
                    groups = merge(groups, (await self._raw(kind, through, mark, [day]))[day])
                    through = mark
                    await self._store(kind, {day: (groups, through)})
                found[day] = groups
                if through < end:
                    found[day] = merge(groups, (await self._raw(kind, through, end, [day]))[day])
        for run in _runs(missing):
            computed = await self._raw(kind, run.since, run.until, run.days)
            await self._store(kind, {day: (g, midnight(day) + DAY) for day, g in computed.items()})
            found.update(computed)
        return {day: found[day] for day in days}

    async def _read(self, kind: str, days: list[date]) -> dict[date, _Kept]:
        span = {"$gte": f"{kind}:{day_key(days[0])}", "$lte": f"{kind}:{day_key(days[-1])}"}
        current = (kind, self._names.key_id, FORMAT)
        kept: dict[date, _Kept] = {}
        async for doc in self._kept.find({"_id": span}):
            if (doc.get("kind"), doc.get("key"), doc.get("v")) == current:
                kept[date.fromisoformat(str(doc["day"]))] = _Kept(unpack(doc), doc["through"])
        return kept

    async def _raw(
        self, kind: str, since: datetime, until: datetime, days: list[date]
    ) -> dict[date, Groups]:
        rows: dict[tuple[date, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
        names: dict[int, int] = {}
        collection = c.MESSAGES if kind == MESSAGES else c.EVENTS
        async for row in await self._db[collection].aggregate(_pipeline(kind, since, until)):
            key, user = row["_id"], row["_id"].get("user")
            if user is None:
                continue
            person = names.get(int(user))
            if person is None:
                person = names[int(user)] = self._names(int(user))
            day = date.fromisoformat(key["day"])
            rows[(day, str(key["g"]))][person] += int(row["n"])
            if kind == MESSAGES and row.get("voice"):
                rows[(day, VOICE)][person] += int(row["voice"])
        found: dict[date, Groups] = {day: {} for day in days}
        for (day, group), times in rows.items():
            pairs = sorted(times.items())
            people = np.array([p for p, _ in pairs], IDS)
            found[day][group] = Tally(people, np.array([n for _, n in pairs], COUNTS))
        return found

    async def _store(self, kind: str, days: dict[date, tuple[Groups, datetime]]) -> None:
        """Keep each day's groups, counted up to its `through`."""
        now = self._clock()
        writes = [
            UpdateOne(
                {"_id": f"{kind}:{day_key(day)}"},
                {
                    "$set": {
                        "kind": kind,
                        "day": day_key(day),
                        "key": self._names.key_id,
                        "v": FORMAT,
                        "groups": pack(groups),
                        "through": through,
                        "computed_at": now,
                    }
                },
                upsert=True,
            )
            for day, (groups, through) in days.items()
        ]
        if writes:
            await self._kept.bulk_write(writes, ordered=False)

    async def drop(self, first: date, last: date) -> int:
        """Forget the kept days from `first` to `last` (both included): the next report computes
        them again from the raw collections (after a late event or an import)."""
        days = [day_key(first + timedelta(days=i)) for i in range((last - first).days + 1)]
        result = await self._kept.delete_many({"day": {"$in": days}})
        return result.deleted_count
