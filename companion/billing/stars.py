"""PRO paid in Telegram Stars: invoice links, pre-checkout checks, recorded payments.

A 30-day plan is sold as a Stars subscription (`subscription_period` = 2592000 s, the only
period Telegram allows); Telegram charges it again every 30 days and sends a new
`successful_payment` with `is_recurring`. Other plans are one-off Stars payments.

The invoice payload names the plan and the user and carries an HMAC, so a pre-checkout query or
payment for a payload we did not issue (or issued to someone else) is refused. Each payment is
recorded once: `telegram_payment_charge_id` is the ledger's provider payment id (unique).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from companion.billing.errors import OfferNotAcceptedError, PaymentUnavailableError
from companion.billing.ledger import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.plans import UnknownPlanError
from companion.billing.ports import StarsApi
from companion.billing.service import BillingService, Outcome
from companion.config import PlanSettings
from companion.storage.models import EventName, User

log = logging.getLogger(__name__)

STARS_CURRENCY = "XTR"
SUBSCRIPTION_PERIOD_S = 30 * 24 * 3600  # Telegram's only allowed subscription period
_SIG_HEX = 20


@dataclass(frozen=True, slots=True)
class InvoicePayload:
    plan_id: str
    user_id: int
    nonce: str


@dataclass(frozen=True, slots=True)
class StarsPayment:
    """The fields of Telegram's SuccessfulPayment that matter here."""

    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    subscription_expiration_date: datetime | None = None
    is_recurring: bool = False
    is_first_recurring: bool = False


def derive_payload_key(secret: str) -> bytes:
    """A payload signing key from a configured secret (or the bot token)."""
    return hashlib.sha256(b"companion-stars-payload:" + secret.encode()).digest()


class StarsBilling:
    """Stars invoices, pre-checkout answers and `successful_payment` records.

    `selling=False` (``billing.stars_enabled = false``) stops new purchases only: subscribers
    who already pay in Stars keep being renewed by Telegram, so their renewals are still
    recorded and their subscriptions can still be cancelled and refunded.
    """

    def __init__(
        self, service: BillingService, api: StarsApi, signing_key: bytes, *, selling: bool = True
    ) -> None:
        self._service = service
        self._api = api
        self._key = signing_key
        self.selling = selling

    # -- payloads -------------------------------------------------------------------------------

    def sign(self, plan_id: str, user_id: int) -> str:
        body = f"{plan_id}:{user_id}:{secrets.token_hex(4)}"
        return f"{body}:{self._signature(body)}"

    def verify(self, payload: str) -> InvoicePayload | None:
        parts = payload.split(":")
        if len(parts) != 4:
            return None
        plan_id, user_id, nonce, signature = parts
        body = f"{plan_id}:{user_id}:{nonce}"
        if not hmac.compare_digest(signature, self._signature(body)) or not user_id.isdigit():
            return None
        return InvoicePayload(plan_id, int(user_id), nonce)

    def _signature(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:_SIG_HEX]

    # -- invoice --------------------------------------------------------------------------------

    @staticmethod
    def is_subscription(plan: PlanSettings) -> bool:
        return plan.period_days * 24 * 3600 == SUBSCRIPTION_PERIOD_S

    async def create_invoice_link(self, user: User, plan_id: str, description: str) -> str:
        """A t.me invoice link for `plan_id`; `description` is the localised invoice text."""
        plan = self._service.plans.get(plan_id)
        if user.offer_accepted_at is None:
            raise OfferNotAcceptedError()
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
            plan = self._service.plans.get(parsed.plan_id)
        except UnknownPlanError:
            return "unknown_plan"
        if currency != STARS_CURRENCY or total_amount <= 0:
            return "not_stars"
        if not renewal and total_amount != plan.price_stars:
            return "price_changed"
        user = await self._service.users.get(user_id)
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
        if reason is not None:
            log.warning("Stars pre-checkout refused for user %s: %s", user_id, reason)
            await self._api.answer_pre_checkout_query(query_id, False, error_message)
            return False
        await self._api.answer_pre_checkout_query(query_id, True)
        return True

    # -- payment ------------------------------------------------------------------------------

    async def record_payment(self, payment: StarsPayment) -> Outcome:
        """Record a `successful_payment` (first, recurring or one-off) and credit PRO, once."""
        renewal = payment.is_recurring and not payment.is_first_recurring
        reason = await self.check(
            payment.user_id,
            payment.currency,
            payment.total_amount,
            payment.invoice_payload,
            renewal=renewal,
        )
        if reason is not None:
            # Telegram took the Stars, but not for something we sold to this user: keep a record
            # for the admin (who can refund it), grant nothing.
            log.error(
                "Stars payment %s refused (%s): nothing granted",
                payment.telegram_payment_charge_id,
                reason,
            )
            return Outcome.REJECTED
        parsed = self.verify(payment.invoice_payload)
        assert parsed is not None
        plan = self._service.plans.get(parsed.plan_id)
        subscription_id: str | None = None
        if payment.is_recurring:
            current = await self._service.subscriptions.get(payment.user_id)
            if renewal and current is not None and current.provider == Provider.STARS.value:
                subscription_id = current.payment_method_id
            subscription_id = subscription_id or payment.telegram_payment_charge_id
        charge_id = payment.telegram_payment_charge_id
        record, created = await self._service.ledger.create(
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
                renews_period_end=payment.subscription_expiration_date,
                created_at=self._service.now(),
                paid_at=self._service.now(),
            )
        )
        outcome = await self._service.credit(record)
        if not created and outcome is Outcome.CREDITED:
            log.info("Stars payment %s credited on a repeated delivery", charge_id)
        return outcome

    async def _event(self, user_id: int, name: EventName, **data: object) -> None:
        await self._service.record_event(user_id, name, provider=Provider.STARS.value, **data)
