"""Stars payments that cannot be credited: given back with `refundStarPayment`.

Money is never kept for nothing: a payment for a payload we did not issue (or issued to
someone else), a plan no longer sold, a first payment at an old price, or a payer who erased
their data is refunded and kept as a closed record. An erased payer's one is recorded
pseudonymised (`user_ref`, no user id), and their subscription is cancelled.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal

from companion.billing.context import BillingContext, Outcome
from companion.billing.ports import StarsApi
from companion.billing.records import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.stars_payload import PayloadSigner
from companion.billing.stars_types import STARS_CURRENCY, StarsPayment

log = logging.getLogger(__name__)

# How many history pages are read to find the first charge of an erased payer's subscription.
_HISTORY_PAGES = 100


class RefusedStarsPayments:
    def __init__(
        self,
        context: BillingContext,
        api: StarsApi,
        payloads: PayloadSigner,
        pseudonym: Callable[[int], str] | None,
    ) -> None:
        self._c = context
        self._api = api
        self._payloads = payloads
        # The keyed hash erasure writes as `user_ref` (`FieldCipher.pseudonym`).
        self._pseudonym = pseudonym

    async def refund(self, payment: StarsPayment, reason: str) -> Outcome:
        """Telegram took the Stars, but not for something we can credit to this payer: give
        them back (`refundStarPayment`) and keep a closed record (for the accounts, and so that
        a repeated delivery or the reconciliation job does not do it twice).

        A payer who erased their data (`unknown_user` with no profile) is recorded without
        their id, and their subscription is cancelled so that Telegram stops charging."""
        charge_id = payment.telegram_payment_charge_id
        erased = reason == "unknown_user" and await self._c.users.get(payment.user_id) is None
        parsed = self._payloads.verify(payment.invoice_payload)
        plan = self._c.plans.find(parsed.plan_id) if parsed else None
        now = self._c.now()
        record = PaymentRecord(
            id=uuid.uuid4().hex,
            provider=Provider.STARS,
            payment_id=charge_id,
            plan_id=plan.id if plan else "",
            kind=(
                PaymentKind.RENEWAL
                if payment.is_recurring and not payment.is_first_recurring
                else PaymentKind.INITIAL
            ),
            amount=Decimal(max(payment.total_amount, 0)),
            currency=payment.currency[:8],
            status=PaymentStatus.SUCCEEDED if erased else PaymentStatus.REJECTED,
            failure_reason=f"refused: {reason}",
            created_at=now,
            paid_at=now,
            # Closed from the start: no job may ever try to credit it.
            closed_at=now,
            closed_reason="erased" if erased else "rejected",
        )
        if erased:
            record = record.model_copy(
                update={
                    "user_ref": self._pseudonym(payment.user_id) if self._pseudonym else None,
                    "erased_at": now,
                }
            )
            stored, created = await self._c.ledger.create_erased(record)
        else:
            record = record.model_copy(
                update={"user_id": payment.user_id, "idempotency_key": f"stars:{charge_id}"}
            )
            stored, created = await self._c.ledger.create(record)
        refund_id = f"stars:{charge_id}"
        if refund_id in stored.refund_ids or stored.granted_at is not None:
            return Outcome.REJECTED  # handled before (a repeated delivery)
        if created:
            # No user id in the line for an erased payer: they asked to be forgotten.
            log.error(
                "Stars payment %s refused (%s): refunding it%s",
                charge_id,
                reason,
                "" if erased else f" to user {payment.user_id}",
            )
            self._c.metrics.closed(Provider.STARS.value, "erased" if erased else "rejected")
        if payment.total_amount > 0 and payment.currency == STARS_CURRENCY:
            await self._api.refund_star_payment(payment.user_id, charge_id)
            await self._c.ledger.add_refund(
                stored.id, refund_id, Decimal(payment.total_amount), self._c.now()
            )
        if erased and payment.is_recurring:
            await self._cancel_erased_subscription(payment)
        return Outcome.REJECTED

    async def _cancel_erased_subscription(self, payment: StarsPayment) -> None:
        """Stop Telegram charging someone whose data is gone. The subscription's first charge
        id is no longer in our ledger; Telegram's history has it (same invoice payload)."""
        subscription_id = await self._first_charge(payment.invoice_payload)
        try:
            await self._api.edit_user_star_subscription(
                payment.user_id, subscription_id or payment.telegram_payment_charge_id, True
            )
        except Exception as exc:  # refunded anyway; the next renewal is refunded again
            log.warning("an erased payer's Stars subscription was not cancelled: %s", exc)

    async def _first_charge(self, payload: str) -> str | None:
        offset = 0
        for _ in range(_HISTORY_PAGES):
            page = await self._api.get_star_transactions(offset, 100)
            for entry in page:
                if entry is not None and not entry.refund and entry.invoice_payload == payload:
                    return entry.id
            if len(page) < 100:
                return None
            offset += len(page)
        return None
