"""The onboarding funnel, and persona and module popularity.

Before consent nothing about a person is stored (`companion.privacy.consent`), so the first
two steps are anonymous daily Redis counters. From consent on the funnel follows a cohort: the
people whose `consent` event falls in the period, and which of them reached each later step by
the period's end (`events.user_at` serves the `$in` of their ids; `name_at` finds the cohort).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis
from redis.exceptions import RedisError

from companion.analytics.activity import user_messages
from companion.analytics.period import Period
from companion.analytics.reports import FunnelReport, PopularityReport, PopularityRow
from companion.domain.models import EventName
from companion.domain.ports import PersonaCatalog
from companion.storage import collections as c
from companion.storage.documents import Document
from companion.storage.redis import onboarding_counter_key

# Steps after consent, in order, and the event that marks each.
LATER_STEPS = (
    ("persona", EventName.PERSONA_CHOSEN),
    ("first_message", EventName.FIRST_MESSAGE),
    ("tenth_message", EventName.TENTH_MESSAGE),
)


async def anonymous_steps(redis: Redis | None, prefix: str, period: Period) -> tuple[int, int]:
    """(/start by people who had not accepted the terms, languages they chose) in the period;
    zeros when Redis is not there (the terminal without Redis)."""
    if redis is None:
        return 0, 0
    days = [day.strftime("%Y%m%d") for day in period.days]
    keys = [onboarding_counter_key(prefix, step, d) for step in ("start", "language") for d in days]
    try:
        values = await redis.mget(keys)
    except RedisError:
        return 0, 0
    counts = [int(value) if value is not None else 0 for value in values]
    return sum(counts[: len(days)]), sum(counts[len(days) :])


async def steps_by_person(
    db: AsyncDatabase[Document], names: Sequence[str], period: Period
) -> dict[int, set[str]]:
    """Who had which of the events `names` in the period: one equality-and-range query per name
    (the `name_at` index; SecantusDB scans the whole collection for a `$in` of names). The ids
    stay here: reports hold counts only."""
    found: dict[int, set[str]] = defaultdict(set)
    for name in names:
        pipeline: list[Document] = [
            {"$match": {"name": name, "at": {"$gte": period.since, "$lt": period.until}}},
            {"$group": {"_id": "$user_id"}},
        ]
        async for row in await db[c.EVENTS].aggregate(pipeline):
            found[int(row["_id"])].add(name)
    return found


async def funnel_report(
    db: AsyncDatabase[Document], redis: Redis | None, prefix: str, period: Period
) -> FunnelReport:
    """Later steps come after consent, so for people who accepted in the period they fall in it
    too: the events of the period are all the funnel needs."""
    starts, languages = await anonymous_steps(redis, prefix, period)
    consent = EventName.CONSENT.value
    names = [consent, *(event.value for _, event in LATER_STEPS)]
    steps = await steps_by_person(db, names, period)
    cohort = [taken for taken in steps.values() if consent in taken]
    counts = [("start", starts), ("language", languages), ("consent", len(cohort))]
    counts += [(step, sum(event.value in taken for taken in cohort)) for step, event in LATER_STEPS]
    return FunnelReport(period=period, steps=counts)


async def popularity_report(
    db: AsyncDatabase[Document], personas: PersonaCatalog, period: Period
) -> PopularityReport:
    """People and their messages per persona (the messages of the period), and per module (a
    persona's module from the library; "unknown" for a persona since removed). One pass: the
    server groups by (persona, person); people per module are counted here, as one person may
    write to two personas of a module."""
    pipeline: list[Document] = [
        {"$match": user_messages(period.since, period.until)},
        {"$group": {"_id": {"persona": "$persona_id", "user": "$user_id"}, "n": {"$sum": 1}}},
    ]
    people: dict[tuple[str, str], set[int]] = {}
    messages: dict[tuple[str, str], int] = {}
    async for row in await db[c.MESSAGES].aggregate(pipeline):
        persona_id, person, count = (
            str(row["_id"]["persona"]),
            int(row["_id"]["user"]),
            int(row["n"]),
        )
        for key in (("persona", persona_id), ("module", module_of(personas, persona_id))):
            people.setdefault(key, set()).add(person)
            messages[key] = messages.get(key, 0) + count

    def rows(kind: str) -> list[PopularityRow]:
        return ranked(
            PopularityRow(name, len(people[(k, name)]), messages[(k, name)])
            for k, name in people
            if k == kind
        )

    return PopularityReport(period=period, personas=rows("persona"), modules=rows("module"))


def ranked(rows: Iterable[PopularityRow]) -> list[PopularityRow]:
    """Most people first, then most messages, then by name."""
    return sorted(rows, key=lambda row: (-row.users, -row.messages, row.key))


def module_of(personas: PersonaCatalog, persona_id: str) -> str:
    persona = personas.get(persona_id)
    return "unknown" if persona is None else persona.module.value
