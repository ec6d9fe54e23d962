"""Activity, funnel, personas, paywall, PRO events and retention from the daily sets of people.

The same numbers as the raw aggregations (`activity`, `funnel`, `money`, `retention`: kept as
the reference and for `companion stats --raw`), from `companion.analytics.people`: a period's
distinct people are the union of its days' sets, so a report reads one small document per day
and kind instead of every event or message of the period.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import numpy as np
from redis.asyncio import Redis

from companion.analytics.funnel import LATER_STEPS, anonymous_steps, module_of, ranked
from companion.analytics.people import MESSAGES, VOICE, PeopleRollups, common, personas, union
from companion.analytics.period import Period
from companion.analytics.reports import (
    RETENTION_DAYS,
    ActivityReport,
    Cohort,
    FunnelReport,
    PaywallReport,
    PopularityReport,
    PopularityRow,
    RetentionReport,
)
from companion.domain.models import EventName
from companion.domain.ports import PersonaCatalog
from companion.storage.people_sets import EMPTY, Tally


async def _people(people: PeopleRollups, name: EventName, period: Period) -> np.ndarray:
    return union((await people.events(name.value, period.days)).values())


async def funnel_report(
    people: PeopleRollups, redis: Redis | None, prefix: str, period: Period
) -> FunnelReport:
    starts, languages = await anonymous_steps(redis, prefix, period)
    cohort = await _people(people, EventName.CONSENT, period)
    counts = [("start", starts), ("language", languages), ("consent", len(cohort))]
    for step, event in LATER_STEPS:
        counts.append((step, common(cohort, await _people(people, event, period))))
    return FunnelReport(period=period, steps=counts)


def _distinct(sets: Iterable[np.ndarray]) -> int:
    return len(union(Tally(people, people) for people in sets))


async def activity_report(people: PeopleRollups, period: Period) -> ActivityReport:
    """WAU and MAU: the 7 and 30 days ending with the period's last closed day (its last day
    when none is closed), as the raw report counts them."""
    consents = await people.events(EventName.CONSENT.value, period.days)
    days = await people.days(MESSAGES, period.days)
    ended = [day for day in period.days if people.closed(day)]
    end = ended[-1] if ended else period.days[-1]
    month = await people.writers([end - timedelta(days=i) for i in range(30)])
    return ActivityReport(
        period=period,
        new_users=[len(consents[day].people) for day in period.days],
        dau=[len(union(personas(days[day]).values())) for day in period.days],
        messages=[sum(t.total for t in personas(days[day]).values()) for day in period.days],
        voice=[days[day].get(VOICE, EMPTY).total for day in period.days],
        wau=_distinct(month[end - timedelta(days=i)] for i in range(7)),
        mau=_distinct(month.values()),
    )


async def popularity_report(
    people: PeopleRollups, library: PersonaCatalog, period: Period
) -> PopularityReport:
    by_group: dict[tuple[str, str], list[Tally]] = {}
    for groups in (await people.days(MESSAGES, period.days)).values():
        for persona_id, tally in personas(groups).items():
            for key in (("persona", persona_id), ("module", module_of(library, persona_id))):
                by_group.setdefault(key, []).append(tally)

    def rows(kind: str) -> list[PopularityRow]:
        return ranked(
            PopularityRow(name, len(union(tallies)), sum(t.total for t in tallies))
            for (k, name), tallies in by_group.items()
            if k == kind
        )

    return PopularityReport(period=period, personas=rows("persona"), modules=rows("module"))


async def paywall_report(people: PeopleRollups, period: Period) -> PaywallReport:
    views, checkouts, payments = [
        len(await _people(people, name, period))
        for name in (EventName.PAYWALL_SHOWN, EventName.PAYMENT_CREATED, EventName.PAID)
    ]
    return PaywallReport(period=period, views=views, checkouts=checkouts, payments=payments)


async def pro_events(people: PeopleRollups, period: Period) -> tuple[int, int]:
    """(people who paid for the first time, renewal events) in the period."""
    paid = await _people(people, EventName.PAID, period)
    renewed = await people.events(EventName.RENEWED.value, period.days)
    return len(paid), sum(tally.total for tally in renewed.values())


async def retention_report(
    people: PeopleRollups, period: Period, *, now: datetime
) -> RetentionReport:
    """A cohort is the people whose first consent in the period fell on its day; the day +N
    counts once it has ended (the raw report's rule)."""
    consents = await people.events(EventName.CONSENT.value, period.days)
    seen = EMPTY.people
    cohorts: dict[date, np.ndarray] = {}
    for day in period.days:
        cohorts[day] = np.setdiff1d(consents[day].people, seen, assume_unique=True)
        seen = np.union1d(seen, cohorts[day])
    today = now.astimezone(UTC).date()
    targets = sorted(
        {
            day + timedelta(days=offset)
            for day, members in cohorts.items()
            for offset in RETENTION_DAYS
            if len(members) and day + timedelta(days=offset) < today
        }
    )
    writers = await people.writers(targets) if targets else {}
    result: list[Cohort] = []
    for day in period.days:
        members = cohorts[day]
        retained: dict[int, int | None] = {}
        for offset in RETENTION_DAYS:
            target = day + timedelta(days=offset)
            retained[offset] = (
                None if target >= today else common(members, writers.get(target, EMPTY.people))
            )
        result.append(Cohort(day=day, size=len(members), retained=retained))
    return RetentionReport(period=period, cohorts=result)
