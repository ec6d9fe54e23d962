"""PRO paid in Telegram Stars: invoice links, pre-checkout checks, recorded payments.

A 30-day plan is sold as a Stars subscription (`subscription_period` = 2592000 s, the only
period Telegram allows); Telegram charges it again every 30 days and sends a new
`successful_payment` with `is_recurring`. Other plans are one-off Stars payments.

The invoice payload names the plan and the user and carries an HMAC, so a pre-checkout query or
payment for a payload we did not issue (or issued to someone else) is refused. Each payment is
recorded once: `telegram_payment_charge_id` is the ledger's provider payment id (unique).

Money is never kept for nothing: a payment that cannot be credited (a payload we did not issue,
a plan no longer sold, a payer who erased their data) is refunded with `refundStarPayment` and
recorded as closed; an erased payer's one is recorded pseudonymised (`user_ref`, no user id), and
their subscription is cancelled. A payment that cannot be recorded now (the database is down)
raises, so the update is handled again; `companion.billing.stars_reconcile` also credits, from
Telegram's own list (`getStarTransactions`), whatever the ledger lacks.

One renewing subscription per user: a Stars subscription is not sold while another renewal runs
(card or Stars); if two still start (two invoices paid at once), every Stars subscription but the
one the user's subscription renews with is cancelled at once, its paid period credited.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from companion.billing import stars_subscriptions
from companion.billing.context import Outcome
from companion.billing.errors import (
    AlreadySubscribedError,
    OfferNotAcceptedError,
    PaymentUnavailableError,
)
from companion.billing.plans import UnknownPlanError
from companion.billing.ports import StarsApi
from companion.billing.records import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.service import BillingService
from companion.billing.stars_payload import InvoicePayload, PayloadSigner, derive_payload_key
from companion.billing.stars_refused import RefusedStarsPayments
from companion.billing.stars_types import STARS_CURRENCY, SUBSCRIPTION_PERIOD_S, StarsPayment
from companion.config import PlanSettings
from companion.domain.models import EventName, Subscription, User

log = logging.getLogger(__name__)

__all__ = [
    "STARS_CURRENCY",
    "SUBSCRIPTION_PERIOD_S",
    "InvoicePayload",
    "StarsBilling",
    "StarsPayment",
    "derive_payload_key",
]

_SIG_HEX = 20
# How many history pages are read to find the first charge of an erased payer's subscription.
_HISTORY_PAGES = 100


class StarsBilling:
    """Stars invoices, pre-checkout answers and `successful_payment` records.

    `selling=False` (``billing.stars_enabled = false``) stops new purchases only: subscribers
    who already pay in Stars keep being renewed by Telegram, so their renewals are still
    recorded and their subscriptions can still be cancelled and refunded.
    """

    def __init__(
        self,
        service: BillingService,
        api: StarsApi,
        signing_key: bytes,
        *,
        selling: bool = True,
        pseudonym: Callable[[int], str] | None = None,
    ) -> None:
        # Stars fit the same use cases as YooKassa: the shared context, crediting, refunds.
        self._c = service.context
        self._crediting = service.crediting
        self._refunds = service.refunds
        self._api = api
        self._payloads = PayloadSigner(signing_key)
        self.selling = selling
        self._refused = RefusedStarsPayments(self._c, api, self._payloads, pseudonym)

    @property
    def api(self) -> StarsApi:
        return self._api

    # -- payloads -------------------------------------------------------------------------------

    def sign(self, plan_id: str, user_id: int) -> str:
        return self._payloads.sign(plan_id, user_id)

    def verify(self, payload: str) -> InvoicePayload | None:
        return self._payloads.verify(payload)

    # -- invoice --------------------------------------------------------------------------------

    @staticmethod
    def is_subscription(plan: PlanSettings) -> bool:
        return plan.period_days * 24 * 3600 == SUBSCRIPTION_PERIOD_S

    async def create_invoice_link(self, user: User, plan_id: str, description: str) -> str:
        """A t.me invoice link for `plan_id`; `description` is the localised invoice text."""
        plan = self._c.plans.get(plan_id)
        if user.offer_accepted_at is None:
            raise OfferNotAcceptedError()
        if self.is_subscription(plan):
            running = await self.renewing(user.id)
            if running is not None:
                raise AlreadySubscribedError(running.current_period_end)
        try:
            link = await self._api.create_invoice_link(
                title=plan.title_for(user.language)[:32],
                description=description[:255],
                payload=self.sign(plan.id, user.id),
                amount=plan.price_stars,
                subscription_period=SUBSCRIPTION_PERIOD_S if self.is_subscription(plan) else None,
            )
        except Exception as exc:  # the Bot API is down or refused: nothing was created
            log.warning("Stars invoice for user %s failed: %s", user.id, type(exc).__name__)
            raise PaymentUnavailableError("Telegram did not create the invoice") from exc
        await self._event(user.id, EventName.PAYMENT_CREATED, plan_id=plan.id)
        return link

    async def renewing(self, user_id: int) -> Subscription | None:
        """The user's subscription when it renews by itself (card or Stars) and gives PRO now."""
        current = await self._c.subscriptions.get(user_id)
        if current is None or not current.auto_renew:
            return None
        return current if current.grants_pro(self._c.now()) else None

    # -- pre-checkout -----------------------------------------------------------------------------

    async def check(
        self,
        user_id: int,
        currency: str,
        total_amount: int,
        payload: str,
        *,
        renewal: bool = False,
    ) -> str | None:
        """Why this purchase must be refused, or None when it may go ahead.

        A renewal is charged by Telegram at the price the subscription was bought at, so it
        is not compared with the plan's current price."""
        parsed = self.verify(payload)
        if parsed is None:
            return "bad_payload"
        if parsed.user_id != user_id:
            return "other_user"
        try:
            plan = self._c.plans.get(parsed.plan_id)
        except UnknownPlanError:
            return "unknown_plan"
        if currency != STARS_CURRENCY or total_amount <= 0:
            return "not_stars"
        if not renewal and total_amount != plan.price_stars:
            return "price_changed"
        user = await self._c.users.get(user_id)
        if user is None or user.offer_accepted_at is None:
            return "unknown_user"  # erased their data since, or never accepted the offer
        return None

    async def answer_pre_checkout(
        self,
        query_id: str,
        user_id: int,
        currency: str,
        total_amount: int,
        payload: str,
        error_message: str,
    ) -> bool:
        """Answer Telegram's pre-checkout query (it must come within 10 s; this reads nothing
        slow). `error_message` is the localised text shown to the user on refusal."""
        reason = (
            await self.check(user_id, currency, total_amount, payload)
            if self.selling
            else "not_selling"  # an invoice link made before Stars were switched off
        )
        if reason is None and await self._second_subscription(user_id, payload):
            # An invoice link made before another subscription started: one renews at a time.
            reason = "already_subscribed"
        if reason is not None:
            log.warning("Stars pre-checkout refused for user %s: %s", user_id, reason)
            await self._api.answer_pre_checkout_query(query_id, False, error_message)
            return False
        await self._api.answer_pre_checkout_query(query_id, True)
        return True

    async def _second_subscription(self, user_id: int, payload: str) -> bool:
        parsed = self.verify(payload)
        plan = self._c.plans.find(parsed.plan_id) if parsed else None
        return (
            plan is not None
            and self.is_subscription(plan)
            and await self.renewing(user_id) is not None
        )

    # -- payment ------------------------------------------------------------------------------

    def plausible_expiration(
        self, value: datetime | None, plan: PlanSettings, charge_id: str
    ) -> datetime | None:
        """Telegram's `subscription_expiration_date` when it is a date a period could end on,
        else None (the plan's period is credited instead): a value far off must not grant PRO
        for years, nor one in the past take a paid period away."""
        if value is None:
            return None
        now = self._c.now()
        if now < value <= now + timedelta(days=2 * plan.period_days + 1):
            return value
        log.warning(
            "Stars payment %s: implausible subscription_expiration_date; the plan period is used",
            charge_id,
        )
        return None

    async def record_payment(self, payment: StarsPayment, *, refunded: int = 0) -> Outcome:
        """Record a `successful_payment` (first, recurring or one-off) and credit PRO, once.

        A database error propagates (nothing is lost: Telegram's update is handled again, and
        the reconciliation job finds the payment in Telegram's list anyway). `refunded`: Stars
        already refunded for it (the reconciliation job saw the refund in Telegram's history),
        counted before crediting, so a payment refunded in full never grants PRO."""
        renewal = payment.is_recurring and not payment.is_first_recurring
        reason = await self.check(
            payment.user_id,
            payment.currency,
            payment.total_amount,
            payment.invoice_payload,
            renewal=renewal,
        )
        if reason is not None:
            return await self._refused.refund(payment, reason)
        parsed = self.verify(payment.invoice_payload)
        assert parsed is not None
        plan = self._c.plans.get(parsed.plan_id)
        charge_id = payment.telegram_payment_charge_id
        subscription_id: str | None = None
        if payment.is_recurring:
            subscription_id = charge_id  # a first payment: its charge id names the subscription
            if renewal:
                subscription_id = await self._renewed_subscription(payment.user_id) or charge_id
        record, created = await self._c.ledger.create(
            PaymentRecord(
                id=uuid.uuid4().hex,
                provider=Provider.STARS,
                payment_id=charge_id,
                user_id=payment.user_id,
                plan_id=plan.id,
                kind=PaymentKind.RENEWAL if renewal else PaymentKind.INITIAL,
                amount=Decimal(payment.total_amount),
                currency=STARS_CURRENCY,
                period_days=plan.period_days,
                status=PaymentStatus.SUCCEEDED,
                idempotency_key=f"stars:{charge_id}",
                description=plan.title_for("en"),
                payment_method_id=subscription_id,
                renews_period_end=self.plausible_expiration(
                    payment.subscription_expiration_date, plan, charge_id
                ),
                created_at=self._c.now(),
                paid_at=self._c.now(),
            )
        )
        if refunded > 0 and record.granted_at is None:
            await self._c.ledger.add_refund(
                record.id, f"stars:{charge_id}", Decimal(refunded), self._c.now()
            )
            record = await self._c.ledger.get(record.id) or record
        outcome = await self._crediting.credit(record)
        if not created and outcome is Outcome.CREDITED:
            log.info("Stars payment %s credited on a repeated delivery", charge_id)
        if payment.is_recurring:
            await self._keep_one_subscription(payment.user_id)
        return outcome

    async def _renewed_subscription(self, user_id: int) -> str | None:
        """The first charge id of the subscription a renewal belongs to: the one the user's
        subscription renews with, else the live one the ledger knows (say, one the user's
        subscription no longer names because a card renewal took over)."""
        current = await self._c.subscriptions.get(user_id)
        if (
            current is not None
            and current.provider == Provider.STARS.value
            and current.payment_method_id
        ):
            return current.payment_method_id
        live = await stars_subscriptions.live_subscriptions(self._c.ledger, user_id, self._c.now())
        return live[0] if live else None

    async def _keep_one_subscription(self, user_id: int) -> None:
        """After a Stars subscription payment was credited: cancel every other live one,
        keeping the one the user's subscription renews with (none, when it renews by card).
        Two only exist when two purchases raced past the pre-checkout check (or a cancellation
        did not reach Telegram); the period paid stays."""
        current = await self._c.subscriptions.get(user_id)
        keep = None
        if current is not None and current.auto_renew and current.provider == Provider.STARS.value:
            keep = current.payment_method_id
        try:
            cancelled = await stars_subscriptions.cancel_subscriptions(
                self._api, self._c.ledger, user_id, self._c.now(), keep=keep
            )
        except Exception as exc:  # the next purchase, cancel or /forget sweeps them again
            log.error(
                "user %s has a second Stars subscription that could not be cancelled: %s",
                user_id,
                type(exc).__name__,
            )
            return
        if cancelled:
            log.warning(
                "user %s had %d more Stars subscription(s) running: cancelled",
                user_id,
                len(cancelled),
            )

    async def payer_erased(self, user_id: int) -> bool:
        return await self._c.users.get(user_id) is None

    async def record_refund(self, charge_id: str, amount: int) -> Outcome:
        """A refund of a Stars payment, however we heard of it (`refunded_payment`, Telegram's
        history): counted once (the same refund id as an admin's /refund), PRO revoked when the
        whole price is back."""
        record = await self._c.ledger.by_payment_id(Provider.STARS, charge_id)
        if record is None:
            log.warning("refund of Stars payment %s that is not in the ledger", charge_id)
            return Outcome.UNKNOWN
        if amount <= 0 or Decimal(amount) > record.amount:
            log.error("refund of Stars payment %s does not fit the payment", charge_id)
            return Outcome.REJECTED
        return await self._refunds.record(record, f"stars:{charge_id}", Decimal(amount))

    async def _event(self, user_id: int, name: EventName, **data: object) -> None:
        await self._c.record_event(user_id, name, provider=Provider.STARS.value, **data)
