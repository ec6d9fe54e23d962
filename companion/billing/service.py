"""`BillingService`: the billing use cases assembled over one `BillingContext`.

The rules live in the use cases (`checkout`, `crediting`, `refunds`, `erased`, `renewals`,
`management`, `admin`; Stars in `stars`); this class builds them in the one right order and
offers their methods under one name, for the webhook, the jobs, the CLI and the tests. Front-ends
should take the use case they need from it (`service.checkout`, `service.management`, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from companion.billing.admin import AdminService
from companion.billing.checkout import CheckoutService, normalize_contact
from companion.billing.context import BillingContext, Checkout, Outcome, SubscriptionView
from companion.billing.crediting import Crediting
from companion.billing.erased import ErasedPayments
from companion.billing.management import SubscriptionManagement
from companion.billing.metrics import BillingMetrics
from companion.billing.plans import PlanCatalog
from companion.billing.ports import (
    Ledger,
    Notifier,
    OwnerAlerts,
    PaymentGateway,
    StarsApi,
    Subscriptions,
    YooKassaGateway,
)
from companion.billing.records import PaymentRecord
from companion.billing.refunds import Refunds
from companion.billing.renewals import Renewals
from companion.billing.rules import Change
from companion.billing.yookassa_models import YooPayment
from companion.config import BillingSettings
from companion.domain.models import EventName, Subscription, User
from companion.domain.ports import EventSink, UserStore
from companion.storage.documents import storage_now

__all__ = [
    "BillingService",
    "Checkout",
    "Outcome",
    "OwnerAlerts",
    "SubscriptionView",
    "normalize_contact",
]


class BillingService:
    def __init__(
        self,
        settings: BillingSettings,
        plans: PlanCatalog,
        ledger: Ledger,
        subscriptions: Subscriptions,
        users: UserStore,
        events: EventSink,
        *,
        yookassa: YooKassaGateway | None = None,
        stars_api: StarsApi | None = None,
        notifier: Notifier | None = None,
        clock: Callable[[], datetime] = storage_now,
        metrics: BillingMetrics | None = None,
        alerts: OwnerAlerts | None = None,
    ) -> None:
        self.context = BillingContext(
            settings,
            plans,
            ledger,
            subscriptions,
            users,
            events,
            PaymentGateway(yookassa, stars_api),
            notifier,
            alerts,
            clock,
            metrics or BillingMetrics(),
        )
        c = self.context
        self.refunds = Refunds(c)
        self.erased = ErasedPayments(c, self.refunds)
        self.crediting = Crediting(c, self.refunds, self.erased)
        self.checkout = CheckoutService(c)
        self.renewals = Renewals(c, self.crediting)
        self.management = SubscriptionManagement(c, self.crediting)
        self.admin = AdminService(c, self.refunds)

    # -- shared state -------------------------------------------------------------------------

    @property
    def settings(self) -> BillingSettings:
        return self.context.settings

    @property
    def plans(self) -> PlanCatalog:
        return self.context.plans

    @property
    def ledger(self) -> Ledger:
        return self.context.ledger

    @property
    def subscriptions(self) -> Subscriptions:
        return self.context.subscriptions

    @property
    def users(self) -> UserStore:
        return self.context.users

    @property
    def metrics(self) -> BillingMetrics:
        return self.context.metrics

    @property
    def notifier(self) -> Notifier | None:
        return self.context.notifier

    @notifier.setter
    def notifier(self, value: Notifier | None) -> None:
        self.context.notifier = value

    @property
    def alerts(self) -> OwnerAlerts | None:
        return self.context.alerts

    @alerts.setter
    def alerts(self, value: OwnerAlerts | None) -> None:
        self.context.alerts = value

    def attach_stars_api(self, stars_api: StarsApi) -> None:
        """Set once the Bot exists (the bot is built after the services)."""
        self.context.gateway.stars = stars_api

    @property
    def yookassa_enabled(self) -> bool:
        return self.context.gateway.yookassa is not None

    def now(self) -> datetime:
        return self.context.now()

    async def record_event(self, user_id: int, name: EventName, **data: object) -> None:
        await self.context.record_event(user_id, name, **data)

    # -- the use cases under one name ---------------------------------------------------------

    async def paywall_shown(self, user_id: int, persona_id: str | None = None) -> None:
        await self.checkout.paywall_shown(user_id, persona_id)

    async def accept_offer(self, user_id: int) -> datetime:
        return await self.checkout.accept_offer(user_id)

    async def confirm_adult(self, user_id: int) -> datetime:
        return await self.checkout.confirm_adult(user_id)

    async def set_receipt_contact(self, user_id: int, text: str) -> str:
        return await self.checkout.set_receipt_contact(user_id, text)

    async def start_yookassa_checkout(self, user: User, plan_id: str) -> Checkout:
        return await self.checkout.start_yookassa_checkout(user, plan_id)

    async def view(self, user_id: int) -> SubscriptionView:
        return await self.management.view(user_id)

    async def cancel(self, user_id: int) -> Subscription:
        return await self.management.cancel(user_id)

    async def resume(self, user_id: int) -> Subscription:
        return await self.management.resume(user_id)

    async def stop_renewals(self, user_id: int) -> bool:
        return await self.management.stop_renewals(user_id)

    async def close_open_checkouts(self, user_id: int) -> None:
        await self.management.close_open_checkouts(user_id)

    async def charge_renewal(self, subscription: Subscription, attempt: int) -> Outcome:
        return await self.renewals.charge_renewal(subscription, attempt)

    async def send_created(self, record: PaymentRecord) -> Outcome:
        return await self.renewals.send_created(record)

    async def sync_yookassa_payment(self, payment_id: str) -> Outcome:
        return await self.crediting.sync_yookassa_payment(payment_id)

    async def sync_yookassa_refund(self, refund_id: str, payment_id: str) -> Outcome:
        return await self.crediting.sync_yookassa_refund(refund_id, payment_id)

    async def apply_yookassa_payment(self, record: PaymentRecord, payment: YooPayment) -> Outcome:
        return await self.crediting.apply_yookassa_payment(record, payment)

    async def credit(self, record: PaymentRecord, payment: YooPayment | None = None) -> Outcome:
        return await self.crediting.credit(record, payment)

    async def renewal_failed(self, user_id: int, order_id: str) -> Change:
        return await self.crediting.renewal_failed(user_id, order_id)

    async def record_refund(
        self, record: PaymentRecord, refund_id: str, amount: Decimal
    ) -> Outcome:
        return await self.refunds.record(record, refund_id, amount)

    async def find_payment(self, reference: str) -> PaymentRecord | None:
        return await self.admin.find_payment(reference)

    async def refund(self, reference: str) -> Outcome:
        return await self.admin.refund(reference)

    async def grant(self, user_id: int, plan_id: str, days: int, *, by: int) -> Subscription:
        return await self.admin.grant(user_id, plan_id, days, by=by)
