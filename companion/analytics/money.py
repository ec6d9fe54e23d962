"""The paywall funnel, revenue by provider, PRO subscribers, renewals and churn.

Read from the collections billing writes, by their stored field names (this package may not
import `companion.billing`): `events` (`paywall_shown`, `payment_created`, `paid`, `renewed`),
`payments` (succeeded ones by `paid_at`: the `status_paid` index; amounts are decimal strings,
summed here as `Decimal`, so kopecks are never rounded), `subscriptions` (`status_period_end`)
and `subscription_transitions` (`to_at`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal, InvalidOperation

from pymongo.asynchronous.database import AsyncDatabase

from companion.analytics.period import Period, day_key
from companion.analytics.reports import (
    PaywallReport,
    RevenueReport,
    RevenueRow,
    SubscriptionsReport,
)
from companion.domain.models import EventName, SubscriptionStatus
from companion.storage import collections as c
from companion.storage.documents import Document

_SUCCEEDED = "succeeded"  # companion.billing.records.PaymentStatus.SUCCEEDED
_RENEWAL = "renewal"  # companion.billing.records.PaymentKind.RENEWAL
_ENDED = (SubscriptionStatus.EXPIRED.value, SubscriptionStatus.REFUNDED.value)


def _in(period: Period) -> Document:
    return {"$gte": period.since, "$lt": period.until}


async def people_by_event(
    db: AsyncDatabase[Document], names: list[str], period: Period
) -> dict[str, tuple[int, int]]:
    """Event name -> (distinct people, events) in the period; one query per name (`name_at`)."""
    found = dict.fromkeys(names, (0, 0))
    for name in names:
        pipeline: list[Document] = [
            {"$match": {"name": name, "at": _in(period)}},
            {"$group": {"_id": "$user_id", "n": {"$sum": 1}}},
            {"$group": {"_id": None, "people": {"$sum": 1}, "events": {"$sum": "$n"}}},
        ]
        async for row in await db[c.EVENTS].aggregate(pipeline):
            found[name] = (int(row["people"]), int(row["events"]))
    return found


async def paywall_report(db: AsyncDatabase[Document], period: Period) -> PaywallReport:
    names = [EventName.PAYWALL_SHOWN, EventName.PAYMENT_CREATED, EventName.PAID]
    found = await people_by_event(db, [name.value for name in names], period)
    views, checkouts, payments = (found[name.value][0] for name in names)
    return PaywallReport(period=period, views=views, checkouts=checkouts, payments=payments)


def _amount(value: object) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


async def revenue_report(db: AsyncDatabase[Document], period: Period) -> RevenueReport:
    """Payments paid in the period (erased payers' payments included: they have no user id)."""
    query = {"status": _SUCCEEDED, "paid_at": _in(period)}
    fields = {"provider": 1, "currency": 1, "amount": 1, "refunded_amount": 1, "kind": 1}
    totals: dict[tuple[str, str], list[Decimal]] = {}
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    daily: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    async for doc in db[c.PAYMENTS].find(query, projection=fields | {"paid_at": 1, "_id": 0}):
        key = (str(doc.get("provider")), str(doc.get("currency")))
        gross, refunded = totals.setdefault(key, [Decimal(0), Decimal(0)])
        totals[key] = [
            gross + _amount(doc.get("amount")),
            refunded + _amount(doc.get("refunded_amount")),
        ]
        counts[key][0] += 1
        counts[key][1] += doc.get("kind") == _RENEWAL
        daily[key[1]][day_key(doc["paid_at"].date())] += _amount(doc.get("amount"))
    rows = [
        RevenueRow(
            provider=provider,
            currency=currency,
            payments=counts[(provider, currency)][0],
            renewals=counts[(provider, currency)][1],
            gross=totals[(provider, currency)][0],
            refunded=totals[(provider, currency)][1],
        )
        for provider, currency in sorted(totals)
    ]
    series = {
        currency: [per_day.get(day_key(day), Decimal(0)) for day in period.days]
        for currency, per_day in sorted(daily.items())
    }
    return RevenueReport(period=period, rows=rows, daily=series)


async def subscriptions_report(
    db: AsyncDatabase[Document], period: Period, *, pro_events: tuple[int, int] | None = None
) -> SubscriptionsReport:
    """`pro_events`: (new PRO people, renewals) when the daily rollups already counted them;
    otherwise counted from the period's `paid` and `renewed` events."""
    at = period.until
    # As `Subscription.grants_pro` decides, with the subscriptions as they are stored now. One
    # query per status, each answered by `status_period_end` (past-due ones are few: their
    # grace is checked here, as a field outside the index would make SecantusDB scan them all).
    by_plan: dict[str, int] = defaultdict(int)
    for status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED):
        pipeline: list[Document] = [
            {"$match": {"status": status.value, "current_period_end": {"$gt": at}}},
            {"$group": {"_id": "$plan_id", "n": {"$sum": 1}}},
        ]
        async for row in await db[c.SUBSCRIPTIONS].aggregate(pipeline):
            by_plan[str(row["_id"])] += int(row["n"])
    past_due = {"status": SubscriptionStatus.PAST_DUE.value}
    async for doc in db[c.SUBSCRIPTIONS].find(
        past_due, projection={"plan_id": 1, "grace_until": 1}
    ):
        grace = doc.get("grace_until")
        if grace is not None and grace > at:
            by_plan[str(doc.get("plan_id"))] += 1
    if pro_events is None:
        names = [EventName.PAID.value, EventName.RENEWED.value]
        events = await people_by_event(db, names, period)
        pro_events = events[EventName.PAID.value][0], events[EventName.RENEWED.value][1]
    ended: set[int] = set()
    for ended_as in _ENDED:  # one query per status: the `to_at` index
        query = {"to": ended_as, "at": _in(period)}
        churn: list[Document] = [{"$match": query}, {"$group": {"_id": "$user_id"}}]
        async for row in await db[c.SUBSCRIPTION_TRANSITIONS].aggregate(churn):
            ended.add(int(row["_id"]))
    churned = len(ended)
    return SubscriptionsReport(
        period=period,
        active_pro=sum(by_plan.values()),
        by_plan=dict(by_plan),
        new_pro=pro_events[0],
        renewals=pro_events[1],
        churned=churned,
    )
