"""Who may talk to which persona now: implements `companion.domain.ports.Entitlements`.

The dialogue service asks on every message to a PRO persona, so the user's subscription is
cached in Redis for `ttl_s` seconds. The cache holds the subscription itself, not a verdict:
the verdict depends on the clock (a period can end while cached) and is computed each time.
Every change made by the billing service calls `invalidate`, so a new purchase, a refund or an
expiry is seen on the next message; the short TTL bounds the staleness of a rare race between
a reader refilling the cache and a writer invalidating it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from companion.billing.plans import PlanCatalog
from companion.domain.models import Subscription, User, utcnow
from companion.domain.personas import Persona
from companion.domain.ports import AccessDecision

log = logging.getLogger(__name__)

_NO_SUBSCRIPTION = b"-"


class SubscriptionReader(Protocol):
    async def get(self, user_id: int) -> Subscription | None: ...


class EntitlementService:
    def __init__(
        self,
        subscriptions: SubscriptionReader,
        redis: aioredis.Redis | None,
        plans: PlanCatalog,
        *,
        key_prefix: str = "companion",
        ttl_s: int = 30,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._subscriptions = subscriptions
        self._redis = redis
        self._plans = plans
        self._prefix = key_prefix
        self._ttl_s = ttl_s
        self._clock = clock

    def _key(self, user_id: int) -> str:
        return f"{self._prefix}:billing:subscription:{user_id}"

    async def check(self, user: User, persona: Persona) -> AccessDecision:
        """ALLOWED, or what is missing. The 18+ gate comes first: someone who has not said they
        are an adult is not shown an offer for adult content."""
        if not persona.pro_only and not persona.adult:
            return AccessDecision.ALLOWED
        if persona.adult and not user.is_adult_confirmed:
            return AccessDecision.NEEDS_ADULT_CONFIRMATION
        if persona.pro_only and not await self.has_module(user.id, persona.module.value):
            return AccessDecision.NEEDS_PRO
        return AccessDecision.ALLOWED

    async def has_module(self, user_id: int, module: str) -> bool:
        subscription = await self.subscription(user_id)
        if subscription is None or not subscription.grants_pro(self._clock()):
            return False
        return module in self._plans.unlocked_modules(subscription.plan_id)

    async def is_pro(self, user_id: int) -> bool:
        subscription = await self.subscription(user_id)
        return subscription is not None and subscription.grants_pro(self._clock())

    async def subscription(self, user_id: int) -> Subscription | None:
        """The user's subscription, from the cache when fresh; Redis trouble falls back to the
        database (a paying user is never locked out because the cache is down)."""
        if self._redis is None:
            # A single process without Redis (the terminal chat): no cache to keep.
            return await self._subscriptions.get(user_id)
        if self._redis is None:  # a single process without Redis: read the database each time
            return await self._subscriptions.get(user_id)
        key = self._key(user_id)
        try:
            cached = await self._redis.get(key)
        except RedisError as exc:
            log.warning("entitlement cache read failed (%s); reading the database", exc)
            cached = None
        if cached == _NO_SUBSCRIPTION:
            return None
        if cached is not None:
            try:
                return Subscription.model_validate_json(cached)
            except ValueError:
                log.warning("dropping an unreadable cached subscription for user %s", user_id)
        subscription = await self._subscriptions.get(user_id)
        value = _NO_SUBSCRIPTION if subscription is None else subscription.model_dump_json()
        try:
            await self._redis.set(key, value, ex=self._ttl_s)
        except RedisError as exc:
            log.warning("entitlement cache write failed: %s", exc)
        return subscription

    async def invalidate(self, user_id: int) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.delete(self._key(user_id))
        except RedisError as exc:
            # Stale for at most ttl_s; the change itself is already stored.
            log.warning("entitlement cache invalidation failed for user %s: %s", user_id, exc)
