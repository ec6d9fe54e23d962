"""Billing over in-memory fakes of its ports: the rules, fast, without MongoDB or YooKassa."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from companion.billing.plans import PlanCatalog
from companion.billing.service import BillingService
from companion.config import BillingSettings
from companion.domain.models import User
from tests.unit.billing.fakes import (
    Clock,
    FakeAlerts,
    FakeEvents,
    FakeLedger,
    FakeNotifier,
    FakeStarsApi,
    FakeSubscriptions,
    FakeUsers,
    FakeYooKassa,
)


@dataclass
class Harness:
    service: BillingService
    settings: BillingSettings
    ledger: FakeLedger
    subscriptions: FakeSubscriptions
    users: FakeUsers
    events: FakeEvents
    notifier: FakeNotifier
    alerts: FakeAlerts
    yookassa: FakeYooKassa
    stars: FakeStarsApi
    clock: Clock

    async def user(self, user_id: int = 1, **fields: Any) -> User:
        fields.setdefault("offer_accepted_at", self.clock.now)
        return await self.users.upsert(User(id=user_id, language="en", **fields))


def make_harness(**overrides: Any) -> Harness:
    values: dict[str, Any] = {
        "yookassa_shop_id": "shop",
        "yookassa_secret_key": "secret",
        "autopayments": True,
    }
    values.update(overrides)
    settings = BillingSettings(**values)
    ledger, subscriptions, users = FakeLedger(), FakeSubscriptions(), FakeUsers()
    events, notifier, alerts = FakeEvents(), FakeNotifier(), FakeAlerts()
    yookassa, stars, clock = FakeYooKassa(), FakeStarsApi(), Clock()
    service = BillingService(
        settings,
        PlanCatalog(settings.plans),
        ledger,
        subscriptions,
        users,
        events,
        yookassa=yookassa,
        stars_api=stars,
        notifier=notifier,
        clock=clock,
        alerts=alerts,
    )
    return Harness(
        service,
        settings,
        ledger,
        subscriptions,
        users,
        events,
        notifier,
        alerts,
        yookassa,
        stars,
        clock,
    )


@pytest.fixture
def billing() -> Harness:
    return make_harness()
