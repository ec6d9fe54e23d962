"""What every billing use case shares: settings, plans, the ports, the clock, and the three
best-effort side effects (an analytics event, a notice to the user, an alert to the owner),
none of which may ever break a payment."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.billing.ports import (
    BillingNotice,
    Ledger,
    NoticeKind,
    Notifier,
    OwnerAlerts,
    PaymentGateway,
    Subscriptions,
)
from companion.billing.records import PaymentRecord, Provider
from companion.billing.rules import pro_until
from companion.config import BillingSettings, PlanSettings
from companion.domain.models import Event, EventName, Subscription
from companion.domain.ports import EventSink, UserStore
from companion.storage.documents import storage_now

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    """What handling one payment update did (for the webhook's log, the jobs and the tests)."""

    CREDITED = "credited"  # the subscription was extended now
    ALREADY_DONE = "already_done"  # a duplicate: nothing changed
    PENDING = "pending"  # not paid yet
    CANCELED = "canceled"
    REFUNDED = "refunded"
    UNKNOWN = "unknown"  # not a payment of ours: nothing granted
    REJECTED = "rejected"  # the API disagrees with our ledger (amount, currency, metadata)


@dataclass(frozen=True, slots=True)
class Checkout:
    order_id: str
    confirmation_url: str
    plan: PlanSettings


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription | None
    plan: PlanSettings | None
    has_pro: bool
    until: datetime | None  # when PRO ends (grace end while past due)
    can_cancel: bool
    can_resume: bool


@dataclass
class BillingContext:
    settings: BillingSettings
    plans: PlanCatalog
    ledger: Ledger
    subscriptions: Subscriptions
    users: UserStore
    events: EventSink
    gateway: PaymentGateway = field(default_factory=PaymentGateway)
    notifier: Notifier | None = None
    alerts: OwnerAlerts | None = None
    clock: Callable[[], datetime] = storage_now
    metrics: BillingMetrics = field(default_factory=BillingMetrics)

    def now(self) -> datetime:
        return self.clock()

    async def reread(self, record: PaymentRecord) -> PaymentRecord:
        current = await self.ledger.get(record.id)
        assert current is not None
        return current

    def can_renew(self, subscription: Subscription) -> bool:
        """Whether turning renewal back on can work for this subscription's provider."""
        if subscription.payment_method_id is None:
            return False
        if subscription.provider == Provider.STARS.value:
            return self.gateway.stars is not None
        return subscription.provider == Provider.YOOKASSA.value and self.settings.autopayments

    async def record_event(self, user_id: int, name: EventName, **data: Any) -> None:
        try:
            await self.events.record(Event(user_id=user_id, name=name.value, data=data))
        except Exception:  # analytics must never break a payment
            log.exception("could not record billing event %s", name.value)

    async def notify(self, user_id: int, kind: NoticeKind, subscription: Subscription) -> None:
        if self.notifier is None:
            return
        notice = BillingNotice(kind, subscription.plan_id, pro_until(subscription))
        try:
            await self.notifier.notify(user_id, notice)
        except Exception:  # telling the user is best effort; the state is already stored
            log.exception("could not notify user %s about %s", user_id, kind.value)

    async def alert(self, text: str) -> None:
        """One clear log line, and the owner's alert channel when there is one."""
        log.error("billing alert: %s", text)
        if self.alerts is None:
            return
        try:
            await self.alerts.alert(text)
        except Exception:  # the log line above is the record; the channel is best effort
            log.exception("could not deliver a billing alert to the owner")
