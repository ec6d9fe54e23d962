"""Billing over real SecantusDB and Redis, the YooKassa emulator, and a real webhook server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from companion.billing.entitlements import EntitlementService
from companion.billing.jobs import BillingJobs
from companion.billing.ledger import PaymentLedger
from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.billing.ports import BillingNotice
from companion.billing.service import BillingService
from companion.billing.subscriptions import SubscriptionStore
from companion.billing.webhook import setup_billing_routes
from companion.billing.yookassa import YooKassaClient
from companion.config import BillingSettings
from companion.domain.models import User
from companion.storage.events import EventRepository
from companion.storage.indexes import ensure_indexes
from companion.storage.users import UserRepository
from tests.emulators.yookassa import YooKassaEmulator

YOOKASSA_SOURCE = "127.0.0.2"  # the emulator's notifications come from here
FORGED_SOURCE = "127.0.0.3"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingNotifier:
    sent: list[tuple[int, BillingNotice]] = field(default_factory=list)

    async def notify(self, user_id: int, notice: BillingNotice) -> None:
        self.sent.append((user_id, notice))

    def kinds(self, user_id: int) -> list[str]:
        return [notice.kind.value for uid, notice in self.sent if uid == user_id]


@dataclass
class RecordingAlerts:
    """The owner's alert channel (`OwnerAlerts`), recording what it was told."""

    texts: list[str] = field(default_factory=list)

    async def alert(self, text: str) -> None:
        self.texts.append(text)


@dataclass
class Billing:
    service: BillingService
    settings: BillingSettings
    emulator: YooKassaEmulator
    client: YooKassaClient
    users: UserRepository
    events: EventRepository
    ledger: PaymentLedger
    store: SubscriptionStore
    entitlements: EntitlementService
    notifier: RecordingNotifier
    clock: Clock
    webhook_url: str
    db: Any
    metrics: BillingMetrics = field(default_factory=BillingMetrics)
    alerts: RecordingAlerts = field(default_factory=RecordingAlerts)

    @property
    def jobs(self) -> BillingJobs:
        """The billing jobs over this harness's service, as the factory builds them."""
        service = self.service
        return BillingJobs(service.context, service.renewals, service.crediting)

    def metric(self, name: str, **labels: str) -> float:
        """A counter's value on this harness's own registry (0 when never counted)."""
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0

    async def user(self, user_id: int = 1, **fields: Any) -> User:
        fields.setdefault("offer_accepted_at", self.clock.now)
        return await self.users.upsert(User(id=user_id, language="en", **fields))

    async def notify(
        self,
        event: str,
        object_: dict[str, Any],
        *,
        source: str = YOOKASSA_SOURCE,
        headers: dict[str, str] | None = None,
    ) -> int:
        return await self.emulator.notify(
            self.webhook_url, event, object_, source=source, headers=headers
        )

    async def redis_cached(self, user_id: int) -> bool:
        redis = self.entitlements._redis
        assert redis is not None
        return bool(await redis.exists(self.entitlements._key(user_id)))

    async def event_names(self, user_id: int) -> list[str]:
        return [event.name for event in await self.events.for_user(user_id)]


def billing_settings(emulator: YooKassaEmulator, **overrides: Any) -> BillingSettings:
    values: dict[str, Any] = {
        "yookassa_shop_id": emulator.shop_id,
        "yookassa_secret_key": emulator.secret_key,
        "yookassa_api_url": emulator.base_url,
        "yookassa_allowed_ips": [f"{YOOKASSA_SOURCE}/32"],
        "yookassa_timeout_s": 5,
        "autopayments": True,
    }
    values.update(overrides)
    return BillingSettings(**values)


@pytest.fixture
async def yookassa() -> AsyncIterator[YooKassaEmulator]:
    async with YooKassaEmulator() as emulator:
        yield emulator


async def build_billing(
    mongo_db: Any,
    redis_client: Any,
    redis_prefix: str,
    emulator: YooKassaEmulator,
    webhook_url: str = "",
    **overrides: Any,
) -> Billing:
    await ensure_indexes(mongo_db)
    settings = billing_settings(emulator, **overrides)
    clock = Clock()
    plans = PlanCatalog(settings.plans)
    metrics = BillingMetrics()
    alerts = RecordingAlerts()
    store_reader = SubscriptionStore(mongo_db)
    entitlements = EntitlementService(
        store_reader, redis_client, plans, key_prefix=redis_prefix, ttl_s=30, clock=clock
    )
    store = SubscriptionStore(mongo_db, cache=entitlements, metrics=metrics)
    client = YooKassaClient(settings, retry_delay_s=0.0)
    users = UserRepository(mongo_db)
    events = EventRepository(mongo_db)
    ledger = PaymentLedger(mongo_db, metrics=metrics)
    notifier = RecordingNotifier()
    service = BillingService(
        settings,
        plans,
        ledger,
        store,
        users,
        events,
        yookassa=client,
        notifier=notifier,
        clock=clock,
        metrics=metrics,
        alerts=alerts,
    )
    return Billing(
        service,
        settings,
        emulator,
        client,
        users,
        events,
        ledger,
        store,
        entitlements,
        notifier,
        clock,
        webhook_url,
        mongo_db,
        metrics,
        alerts,
    )


@pytest.fixture
async def billing(mongo_db, redis_client, redis_prefix, yookassa) -> AsyncIterator[Billing]:
    harness = await build_billing(mongo_db, redis_client, redis_prefix, yookassa)
    app = web.Application()
    setup_billing_routes(app, harness.service.crediting, harness.service.settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    harness.webhook_url = f"http://127.0.0.1:{port}{harness.settings.webhook_path}"
    yield harness
    await runner.cleanup()
    await harness.client.close()
