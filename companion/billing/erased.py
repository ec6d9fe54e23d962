"""Payments of people who erased their data: never credited, given back.

A YooKassa payment of an erased payer is cancelled where YooKassa allows it (waiting for
capture), refunded in full once it has succeeded (key `erased-refund:<order>:<amount>`), and
closed `erased`; a Stars one the generic path meets is closed `erased_not_refunded` (Telegram
refunds only with the payer's id, which erasure removed; the Stars reconciliation refunds it
from Telegram's history).
"""

from __future__ import annotations

import logging

from companion.billing.context import BillingContext, Outcome
from companion.billing.records import OPEN_STATUSES, PaymentRecord, PaymentStatus, Provider
from companion.billing.refunds import Refunds
from companion.billing.yookassa_models import Amount, YooKassaRequestError, YooPayment

log = logging.getLogger(__name__)


class ErasedPayments:
    def __init__(self, context: BillingContext, refunds: Refunds) -> None:
        self._c = context
        self._refunds = refunds

    async def settle(self, record: PaymentRecord, payment: YooPayment) -> Outcome:
        """A YooKassa payment whose payer erased their data, as just read from the API. A
        `pending` one cannot be cancelled by the shop: it waits to be paid (then refunded) or
        to expire at YooKassa."""
        c = self._c
        yookassa = c.gateway.yookassa
        assert yookassa is not None
        if payment.status == "waiting_for_capture":
            payment = await yookassa.cancel_payment(payment.id, f"erased-cancel:{record.id}")
        if payment.status == "canceled":
            updated = await c.ledger.update(
                record.id,
                expected=OPEN_STATUSES,
                status=PaymentStatus.CANCELED,
                failure_reason=(
                    payment.cancellation_details.reason if payment.cancellation_details else None
                ),
            )
            if updated is not None:
                log.info("payment %s of an erased payer canceled", record.id)
            return Outcome.CANCELED if updated is not None else Outcome.ALREADY_DONE
        if payment.status != "succeeded":
            return Outcome.PENDING
        await c.ledger.update(
            record.id, expected=OPEN_STATUSES, status=PaymentStatus.SUCCEEDED, paid_at=c.now()
        )
        return await self.refund(await c.reread(record), payment)

    async def refund(self, record: PaymentRecord, payment: YooPayment | None) -> Outcome:
        """Refund what is left of a succeeded payment of an erased payer, then close it."""
        c = self._c
        if record.closed_at is not None or record.granted_at is not None:
            return Outcome.ALREADY_DONE
        yookassa = c.gateway.yookassa
        if record.provider is not Provider.YOOKASSA or yookassa is None:
            # Telegram refunds Stars only with the payer's user id, which erasure removed.
            closed = await c.ledger.close(record.id, "erased_not_refunded", c.now())
            if closed is not None:
                c.metrics.closed(record.provider.value, "erased_not_refunded")
                await c.alert(
                    f"{record.provider.value} payment {record.payment_id} (order {record.id}) "
                    "was made by an erased user and cannot be refunded automatically."
                )
            return Outcome.REJECTED
        record = await self._refunds.known_refunds(record, payment)
        remaining = record.amount - record.refunded_amount
        if remaining > 0:
            assert record.payment_id is not None
            try:
                # The amount is part of the key: a partial refund made meanwhile changes what
                # is left, and a reused key with another body is refused by YooKassa.
                refund = await yookassa.create_refund(
                    record.payment_id,
                    Amount(value=remaining, currency=record.currency),
                    f"erased-refund:{record.id}:{remaining}",
                )
            except YooKassaRequestError as exc:
                if exc.status in (401, 403):
                    raise  # our credentials: retried, not closed
                closed = await c.ledger.close(record.id, "erased_refund_refused", c.now())
                if closed is not None:
                    c.metrics.closed(record.provider.value, "erased_refund_refused")
                    await c.alert(
                        f"YooKassa refused to refund payment {record.payment_id} (order "
                        f"{record.id}) of an erased user ({exc.code}); refund it by hand."
                    )
                return Outcome.REJECTED
            if refund.status != "succeeded":
                return Outcome.PENDING  # the refund's notification (or the next run) finishes it
            record = await c.ledger.add_refund(
                record.id, refund.id, refund.amount.value, c.now()
            ) or await c.reread(record)
        if not record.fully_refunded:
            return Outcome.PENDING
        closed = await c.ledger.close(record.id, "erased", c.now())
        if closed is None:
            return Outcome.ALREADY_DONE
        c.metrics.closed(record.provider.value, "erased")
        log.info("payment %s of an erased payer refunded in full and closed", record.id)
        return Outcome.REFUNDED
