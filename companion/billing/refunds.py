"""Counting refunds, whatever order the news comes in, and taking PRO back for a full one.

A refund is counted on its payment whatever the payment's state here (`Ledger.add_refund`
counts each refund id once). Crediting reads what is counted (and, for YooKassa, what the API
knows: `known_refunds`), so a payment refunded in full is never credited. A full refund of a
credited payment ends PRO now, keyed by the refund (applied once).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from companion.billing.context import BillingContext, Outcome
from companion.billing.ports import NoticeKind
from companion.billing.records import PaymentRecord, PaymentStatus, Provider
from companion.billing.rules import revoke
from companion.billing.yookassa_models import YooPayment, YooRefund
from companion.domain.models import EventName

log = logging.getLogger(__name__)


class Refunds:
    def __init__(self, context: BillingContext) -> None:
        self._c = context

    async def record(self, record: PaymentRecord, refund_id: str, amount: Decimal) -> Outcome:
        """Count one refund of `record` (once per refund id) and act on what it changes."""
        c = self._c
        updated = await c.ledger.add_refund(record.id, refund_id, amount, c.now())
        if updated is None:
            return Outcome.ALREADY_DONE
        if updated.erased:
            # An erased payer's payment (our automatic refund, or one from the dashboard): no
            # subscription to change; once all is back and it was never credited, it is closed.
            if (
                updated.fully_refunded
                and updated.status is PaymentStatus.SUCCEEDED
                and updated.granted_at is None
                and await c.ledger.close(record.id, "erased", c.now()) is not None
            ):
                c.metrics.closed(record.provider.value, "erased")
            return Outcome.REFUNDED
        if updated.granted_at is None:
            # Refunded before it was credited: counted now, read by crediting, which closes a
            # payment refunded in full instead of granting PRO.
            log.info(
                "refund %s of payment %s counted before the payment was credited",
                refund_id,
                record.id,
            )
            return Outcome.REFUNDED
        if not updated.fully_refunded:
            # A goodwill refund of part of the price: the period stays paid for. Partial refunds
            # that add up to the whole price revoke PRO like a full one.
            log.info(
                "partial refund %s of payment %s (%s of %s refunded): PRO kept",
                refund_id,
                record.id,
                updated.refunded_amount,
                updated.amount,
            )
            return Outcome.REFUNDED
        await self.revoke(updated, refund_id, amount)
        return Outcome.REFUNDED

    async def revoke(self, record: PaymentRecord, refund_id: str, amount: Decimal) -> None:
        """PRO ends now for a payment refunded in full (keyed by the refund: applied once)."""
        c = self._c
        user_id = record.user_id
        if user_id is None:
            return
        change = await c.subscriptions.apply(
            user_id, f"refund:{record.provider.value}:{refund_id}", "refunded", revoke(c.now())
        )
        if not change.applied:
            return
        await c.record_event(
            user_id,
            EventName.REFUNDED,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            amount=str(amount),
            currency=record.currency,
        )
        await c.notify(user_id, NoticeKind.REFUNDED, change.after)

    async def apply_yookassa(self, record: PaymentRecord, refund: YooRefund) -> Outcome:
        """A refund as read from YooKassa's API: counted once it succeeded and fits."""
        if refund.status != "succeeded":
            return Outcome.PENDING
        if not refund_fits(record, refund):
            return Outcome.REJECTED
        return await self.record(record, refund.id, refund.amount.value)

    async def known_refunds(
        self, record: PaymentRecord, payment: YooPayment | None
    ) -> PaymentRecord:
        """The record with every refund YooKassa knows for it counted, so nothing is credited
        for a payment refunded (say, in the dashboard) before we heard of it being paid."""
        c = self._c
        yookassa = c.gateway.yookassa
        if record.provider is not Provider.YOOKASSA or yookassa is None or not record.payment_id:
            return record
        if payment is None:
            payment = await yookassa.get_payment(record.payment_id)
        known = payment.refunded_amount.value if payment.refunded_amount else Decimal("0")
        if known <= record.refunded_amount:
            return record
        for refund in await yookassa.list_refunds(record.payment_id):
            if (
                refund.payment_id == record.payment_id
                and refund.status == "succeeded"
                and refund_fits(record, refund)
            ):
                # Nothing to take back yet: the payment was not credited.
                await c.ledger.add_refund(record.id, refund.id, refund.amount.value, c.now())
        return await c.reread(record)


def refund_fits(record: PaymentRecord, refund: YooRefund) -> bool:
    if refund.amount.currency != record.currency or refund.amount.value > record.amount:
        log.error("refund %s does not fit payment %s", refund.id, record.id)
        return False
    return True
