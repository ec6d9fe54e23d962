"""Checkout: what a user does before paying (offer, 18+, receipt contact) and the YooKassa
payment link. Ledger first: the record (with its request body and idempotence key) is written
before YooKassa is asked, and nothing is left half-created when YooKassa fails."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timedelta

from companion.billing import rules
from companion.billing.context import BillingContext, Checkout
from companion.billing.errors import (
    ContactRequiredError,
    InvalidContactError,
    OfferNotAcceptedError,
    PaymentUnavailableError,
)
from companion.billing.records import PaymentKind, PaymentStatus, Provider
from companion.billing.yookassa_models import YooKassaError
from companion.billing.yookassa_requests import yookassa_record
from companion.domain.models import EventName, User

log = logging.getLogger(__name__)

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?\d{10,15}$")
# A checkout link still open this recently is shown again instead of creating a second payment.
_REUSE_CHECKOUT = timedelta(minutes=30)


def normalize_contact(text: str) -> str:
    """An e-mail (lower-cased) or a phone as digits with the country code (`79001234567`)."""
    value = text.strip()
    if _EMAIL_RE.match(value) and len(value) <= 254:
        return value.lower()
    digits = re.sub(r"[\s()\-]", "", value)
    if _PHONE_RE.match(digits):
        digits = digits.lstrip("+")
        if len(digits) == 11 and digits.startswith("8"):
            digits = "7" + digits[1:]  # Russian trunk prefix
        return digits
    raise InvalidContactError(text)


def _ledger_status(status: str) -> PaymentStatus:
    try:
        return PaymentStatus(status)
    except ValueError:
        return PaymentStatus.PENDING


class CheckoutService:
    def __init__(self, context: BillingContext) -> None:
        self._c = context

    @property
    def yookassa_enabled(self) -> bool:
        return self._c.gateway.yookassa is not None

    async def paywall_shown(self, user_id: int, persona_id: str | None = None) -> None:
        await self._c.record_event(user_id, EventName.PAYWALL_SHOWN, persona_id=persona_id)

    async def accept_offer(self, user_id: int) -> datetime:
        """Returns when, so a front-end's copy of the user can say so too."""
        now = self._c.now()
        await self._c.users.update(user_id, offer_accepted_at=now)
        await self._c.record_event(user_id, EventName.OFFER_ACCEPTED)
        return now

    async def confirm_adult(self, user_id: int) -> datetime:
        """Returns when, so a front-end's copy of the user can say so too."""
        now = self._c.now()
        await self._c.users.update(user_id, adult_confirmed_at=now)
        return now

    async def set_receipt_contact(self, user_id: int, text: str) -> str:
        """Raises InvalidContactError for text that is neither an e-mail nor a phone."""
        contact = normalize_contact(text)
        await self._c.users.update(user_id, receipt_contact=contact)
        return contact

    async def start_yookassa_checkout(self, user: User, plan_id: str) -> Checkout:
        """A payment link for `plan_id`. Raises UnknownPlanError, OfferNotAcceptedError,
        ContactRequiredError, PaymentUnavailableError (nothing is left half-created: the ledger
        record is closed)."""
        c = self._c
        plan = c.plans.get(plan_id)
        if user.offer_accepted_at is None:
            raise OfferNotAcceptedError()
        if c.settings.receipt_required and not user.receipt_contact:
            raise ContactRequiredError()
        yookassa = c.gateway.yookassa
        if yookassa is None:
            raise PaymentUnavailableError("YooKassa is not configured")
        for open_record in await c.ledger.open_for_user(user.id, Provider.YOOKASSA):
            if (
                open_record.plan_id == plan.id
                and open_record.kind is PaymentKind.INITIAL
                and open_record.confirmation_url
                and open_record.created_at > c.now() - _REUSE_CHECKOUT
            ):
                return Checkout(open_record.id, open_record.confirmation_url, plan)

        order_id = uuid.uuid4().hex
        new = yookassa_record(
            c.settings, order_id, order_id, user, plan, PaymentKind.INITIAL, c.now()
        )
        record, _ = await c.ledger.create(new)
        try:
            payment = await yookassa.create_payment(
                record.request_body or {}, record.idempotency_key or order_id
            )
        except YooKassaError as exc:
            await c.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason=str(exc)[:300],
            )
            log.warning("checkout for user %s failed: %s", user.id, exc)
            raise PaymentUnavailableError(str(exc)) from exc
        url = payment.confirmation.confirmation_url if payment.confirmation else None
        await c.ledger.update(
            record.id,
            expected=[PaymentStatus.CREATING],
            payment_id=payment.id,
            status=_ledger_status(payment.status),
            confirmation_url=url,
        )
        await c.subscriptions.apply(
            user.id, f"pending:{order_id}", "checkout", rules.pending(plan.id)
        )
        await c.record_event(
            user.id,
            EventName.PAYMENT_CREATED,
            provider=Provider.YOOKASSA.value,
            plan_id=plan.id,
            order_id=order_id,
            amount=str(plan.price_rub),
            currency="RUB",
        )
        if url is None:
            # A redirect payment always has a link; without one the user cannot pay.
            raise PaymentUnavailableError("YooKassa returned no confirmation URL")
        return Checkout(order_id, url, plan)
