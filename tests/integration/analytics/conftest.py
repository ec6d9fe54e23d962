"""A small, hand-counted world for the analytics reports (see the comments for the counts).

Period under test: 2026-11-01 … 2026-11-07 (UTC). People 1-4 accept the terms in it; person 5
accepted before it, person 6 just after (at its exclusive end).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from companion.analytics.period import Period
from companion.analytics.service import AnalyticsService
from companion.personas.repository import PersonaRepository, packaged_library_dir
from companion.storage import collections as c
from companion.storage.indexes import ensure_indexes

PERIOD = Period(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 8, tzinfo=UTC))
NOW = datetime(2026, 12, 15, 12, tzinfo=UTC)

_seq = count(1)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def event(user: int, name: str, when: datetime, **data: Any) -> dict[str, Any]:
    return {"user_id": user, "name": name, "at": when, "data": data}


def message(
    user: int, persona: str, when: datetime, *, role: str = "user", source: str = "text"
) -> dict[str, Any]:
    n = next(_seq)
    return {
        "_id": f"m{n}",
        "conversation_id": f"c{user}-{persona}",
        "user_id": user,
        "persona_id": persona,
        "seq": n,
        "role": role,
        "text": "sealed-never-read",
        "source": source,
        "status": "complete",
        "created_at": when,
        "meta": {},
    }


EVENTS = [
    # consent: cohort 11-01 = {1, 2}, 11-02 = {3}, 11-05 = {4}; 5 before, 6 at the end.
    event(1, "consent", at(11, 1, 10)),
    event(2, "consent", at(11, 1, 12)),
    event(3, "consent", at(11, 2, 9)),
    event(4, "consent", at(11, 5)),
    event(5, "consent", at(10, 20)),
    event(6, "consent", datetime(2026, 11, 8, tzinfo=UTC)),
    # later funnel steps: persona {1, 2, 3}, first message {1, 2}, tenth {1} (2's is after).
    event(1, "persona_chosen", at(11, 1), persona="kylie"),
    event(2, "persona_chosen", at(11, 1), persona="leo"),
    event(2, "persona_chosen", at(11, 2), persona="leo"),
    event(3, "persona_chosen", at(11, 3), persona="leo"),
    event(5, "persona_chosen", at(11, 2), persona="dasha"),
    event(1, "first_message", at(11, 1)),
    event(2, "first_message", at(11, 2)),
    event(5, "first_message", at(11, 4)),
    event(1, "tenth_message", at(11, 4)),
    event(2, "tenth_message", at(11, 9)),
    # paywall: views {1, 2, 3} (5's is before), checkouts {1, 2}, payments {1}.
    event(1, "paywall_shown", at(11, 1)),
    event(1, "paywall_shown", at(11, 2)),
    event(1, "paywall_shown", at(11, 3)),
    event(2, "paywall_shown", at(11, 3)),
    event(3, "paywall_shown", at(11, 4)),
    event(5, "paywall_shown", at(10, 30)),
    event(1, "payment_created", at(11, 3)),
    event(1, "payment_created", at(11, 3, 13)),
    event(2, "payment_created", at(11, 4)),
    event(1, "paid", at(11, 3, 14)),
    # renewals: two in the period, one after.
    event(5, "renewed", at(11, 2)),
    event(5, "renewed", at(11, 6)),
    event(5, "renewed", at(11, 20)),
]

MESSAGES = [
    # 11-01: person 1, two to kylie (partner).
    message(1, "kylie", at(11, 1, 10)),
    message(1, "kylie", at(11, 1, 11)),
    message(1, "kylie", at(11, 1, 11), role="assistant"),
    # 11-02: person 1 a voice note to kylie; person 2 one to leo (support).
    message(1, "kylie", at(11, 2), source="voice"),
    message(2, "leo", at(11, 2)),
    message(2, "leo", at(11, 2), role="assistant"),
    # 11-03: person 3 a voice note to leo and a text to mark (partner).
    message(3, "leo", at(11, 3), source="voice"),
    message(3, "mark", at(11, 3, 13)),
    # 11-04: person 5 three to dasha (practice), one to a persona no longer in the library.
    message(5, "dasha", at(11, 4, 1)),
    message(5, "dasha", at(11, 4, 2)),
    message(5, "dasha", at(11, 4, 3)),
    message(5, "ghost", at(11, 4, 4)),
    # outside the period: person 1 on 11-08 (D7) and 12-01 (D30); person 7 in October (MAU).
    message(1, "kylie", at(11, 8)),
    message(1, "kylie", at(12, 1)),
    message(7, "leo", at(10, 15)),
]


def _sub(user: int, plan: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"_id": user, "user_id": user, "plan_id": plan, "status": status, "version": 1, **fields}


SUBSCRIPTIONS = [
    _sub(1, "pro_month", "active", current_period_end=at(12, 1)),
    _sub(2, "pro_week", "cancelled", current_period_end=at(11, 10)),
    _sub(3, "pro_month", "past_due", current_period_end=at(11, 2), grace_until=at(11, 9)),
    _sub(5, "pro_month", "expired", current_period_end=at(11, 3)),
    _sub(7, "pro_week", "active", current_period_end=at(11, 7)),
    _sub(8, "pro_week", "past_due", current_period_end=at(10, 25), grace_until=at(11, 1)),
]

TRANSITIONS = [
    {"_id": "k1", "user_id": 5, "from": "active", "to": "expired", "at": at(11, 3)},
    {"_id": "k2", "user_id": 9, "from": "active", "to": "refunded", "at": at(11, 6)},
    {"_id": "k3", "user_id": 10, "from": "active", "to": "expired", "at": at(11, 20)},
    {"_id": "k4", "user_id": 11, "from": "active", "to": "cancelled", "at": at(11, 4)},
]


def _payment(pid: str, provider: str, amount: str, currency: str, **fields: Any) -> dict[str, Any]:
    return {
        "_id": pid,
        "provider": provider,
        "payment_id": f"prov-{pid}",
        "plan_id": "pro_month",
        "kind": "initial",
        "amount": amount,
        "currency": currency,
        "refunded_amount": "0",
        "created_at": at(11, 1),
        **fields,
    }


PAYMENTS = [
    _payment("p1", "yookassa", "449.00", "RUB", user_id=1, status="succeeded", paid_at=at(11, 2)),
    _payment(
        "p2",
        "yookassa",
        "449.00",
        "RUB",
        user_id=5,
        status="succeeded",
        kind="renewal",
        paid_at=at(11, 5),
        refunded_amount="100.50",
    ),
    _payment(
        "p3", "telegram_stars", "250", "XTR", user_id=2, status="succeeded", paid_at=at(11, 3)
    ),
    _payment("p4", "yookassa", "449.00", "RUB", user_id=3, status="pending"),
    _payment("p5", "yookassa", "999.00", "RUB", user_id=3, status="succeeded", paid_at=at(10, 30)),
    # A payment whose payer was erased: no user id, still revenue.
    _payment(
        "p6", "yookassa", "149.00", "RUB", user_ref="h", status="succeeded", paid_at=at(11, 7)
    ),
]

# Anonymous onboarding counters: starts 5 + 3 in the period (100 before), languages 4 + 2.
COUNTERS = {
    "start:20261101": 5,
    "start:20261102": 3,
    "start:20261031": 100,
    "language:20261101": 4,
    "language:20261103": 2,
}


@pytest.fixture(scope="session")
def personas() -> PersonaRepository:
    library = PersonaRepository(packaged_library_dir())
    library.load_all()
    return library


@pytest.fixture
async def world(mongo_db: AsyncDatabase[Any], redis_client: Redis, redis_prefix: str) -> None:
    await ensure_indexes(mongo_db)
    await mongo_db[c.EVENTS].insert_many([dict(e) for e in EVENTS])
    await mongo_db[c.MESSAGES].insert_many([dict(m) for m in MESSAGES])
    await mongo_db[c.SUBSCRIPTIONS].insert_many([dict(s) for s in SUBSCRIPTIONS])
    await mongo_db[c.SUBSCRIPTION_TRANSITIONS].insert_many([dict(t) for t in TRANSITIONS])
    await mongo_db[c.PAYMENTS].insert_many([dict(p) for p in PAYMENTS])
    for key, value in COUNTERS.items():
        step, day = key.split(":")
        await redis_client.set(f"{redis_prefix}:stats:onboarding:{step}:{day}", value)
    yield
    keys = [key async for key in redis_client.scan_iter(f"{redis_prefix}:*")]
    if keys:
        await redis_client.delete(*keys)


@pytest.fixture
def analytics(
    mongo_db: AsyncDatabase[Any],
    redis_client: Redis,
    redis_prefix: str,
    personas: PersonaRepository,
) -> AnalyticsService:
    return AnalyticsService(
        mongo_db, personas, redis=redis_client, key_prefix=redis_prefix, clock=lambda: NOW
    )
