"""EntitlementService over the real subscription collection and real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from companion.billing.entitlements import EntitlementService
from companion.billing.plans import PlanCatalog
from companion.config import BillingSettings, PlanSettings
from companion.domain.models import Subscription, SubscriptionStatus, User
from companion.domain.ports import AccessDecision
from companion.storage.subscriptions import SubscriptionRepository
from tests.unit.dialogs.persona_factory import make_persona

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

FREE = make_persona()
PARTNER = make_persona(id="kylie", module="partner", pro_only=True, adult=True)
PRACTICE_PRO = make_persona(id="coach", module="practice", pro_only=True)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def service(mongo_db, redis_client, redis_prefix, clock, plans=None):
    catalog = PlanCatalog(plans or BillingSettings().plans)
    return EntitlementService(
        SubscriptionRepository(mongo_db),
        redis_client,
        catalog,
        key_prefix=redis_prefix,
        ttl_s=30,
        clock=clock,
    )


def active(user_id: int, end: datetime, plan: str = "pro_month", **kw) -> Subscription:
    return Subscription(
        user_id=user_id,
        plan_id=plan,
        status=SubscriptionStatus.ACTIVE,
        current_period_end=end,
        **kw,
    )


async def test_free_persona_always_allowed(mongo_db, redis_client, redis_prefix):
    ent = service(mongo_db, redis_client, redis_prefix, Clock(NOW))
    assert await ent.check(User(id=1), FREE) is AccessDecision.ALLOWED


async def test_partner_needs_adult_then_pro_then_allowed(mongo_db, redis_client, redis_prefix):
    repo = SubscriptionRepository(mongo_db)
    ent = service(mongo_db, redis_client, redis_prefix, Clock(NOW))
    minor_unknown = User(id=2)
    assert await ent.check(minor_unknown, PARTNER) is AccessDecision.NEEDS_ADULT_CONFIRMATION
    adult = User(id=2, adult_confirmed_at=NOW)
    assert await ent.check(adult, PARTNER) is AccessDecision.NEEDS_PRO

    await repo.save(active(2, NOW + timedelta(days=3)))
    # Cached "no subscription" until invalidated: the billing service invalidates on change.
    assert await ent.check(adult, PARTNER) is AccessDecision.NEEDS_PRO
    await ent.invalidate(2)
    assert await ent.check(adult, PARTNER) is AccessDecision.ALLOWED
    # PRO without 18+ still asks for the confirmation.
    assert await ent.check(minor_unknown, PARTNER) is AccessDecision.NEEDS_ADULT_CONFIRMATION


async def test_period_end_is_checked_against_the_clock_even_when_cached(
    mongo_db, redis_client, redis_prefix
):
    clock = Clock(NOW)
    await SubscriptionRepository(mongo_db).save(active(3, NOW + timedelta(hours=1)))
    ent = service(mongo_db, redis_client, redis_prefix, clock)
    user = User(id=3, adult_confirmed_at=NOW)
    assert await ent.check(user, PARTNER) is AccessDecision.ALLOWED
    clock.now = NOW + timedelta(hours=2)
    assert await ent.check(user, PARTNER) is AccessDecision.NEEDS_PRO


async def test_past_due_grants_until_grace_ends(mongo_db, redis_client, redis_prefix):
    clock = Clock(NOW)
    sub = Subscription(
        user_id=4,
        plan_id="pro_month",
        status=SubscriptionStatus.PAST_DUE,
        current_period_end=NOW - timedelta(days=1),
        grace_until=NOW + timedelta(days=2),
    )
    await SubscriptionRepository(mongo_db).save(sub)
    ent = service(mongo_db, redis_client, redis_prefix, clock)
    assert await ent.is_pro(4)
    clock.now = NOW + timedelta(days=3)
    assert not await ent.is_pro(4)


async def test_plan_unlocks_only_its_modules(mongo_db, redis_client, redis_prefix):
    plans = [
        PlanSettings(
            id="partner_only",
            title={"en": "P"},
            price_rub="10.00",
            price_stars=5,
            period_days=7,
            unlocks=["partner"],
        ),
    ]
    await SubscriptionRepository(mongo_db).save(active(5, NOW + timedelta(days=1), "partner_only"))
    ent = service(mongo_db, redis_client, redis_prefix, Clock(NOW), plans)
    user = User(id=5, adult_confirmed_at=NOW)
    assert await ent.check(user, PARTNER) is AccessDecision.ALLOWED
    assert await ent.check(user, PRACTICE_PRO) is AccessDecision.NEEDS_PRO


async def test_cache_expires_by_ttl(mongo_db, redis_client, redis_prefix):
    ent = service(mongo_db, redis_client, redis_prefix, Clock(NOW))
    assert await ent.subscription(6) is None
    ttl = await redis_client.ttl(f"{redis_prefix}:billing:subscription:6")
    assert 0 < ttl <= 30
