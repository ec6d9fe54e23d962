"""Crediting verified payments: the webhook's and the reconciliation job's use case.

- Nothing is granted from what a notification *says*: a payment is credited only after the
  provider's API (or Telegram's own `successful_payment`) confirms it, and only when amount,
  currency and metadata match the ledger record we wrote before asking for the payment.
- A payment credits the subscription at most once: the ledger moves to `succeeded` with a
  conditional update, the subscription change is keyed by the payment
  (`payment:<provider>:<id>`), and `granted_at` is set last. A crash between any two steps is
  finished by the reconciliation job (`companion.billing.jobs`).
- Refunds count in any order; a payment refunded in full is never credited.
- A payment whose payer erased their data is never credited (`companion.billing.erased`).
- A payment the API contradicts is closed as `rejected` once, and the owner alerted once.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from companion.billing import rules
from companion.billing.context import BillingContext, Outcome
from companion.billing.erased import ErasedPayments
from companion.billing.ports import NoticeKind
from companion.billing.records import (
    OPEN_STATUSES,
    PaymentKind,
    PaymentRecord,
    PaymentStatus,
    Provider,
)
from companion.billing.refunds import Refunds
from companion.billing.rules import Change
from companion.billing.yookassa_models import YooKassaNotFoundError, YooPayment
from companion.domain.models import EventName

log = logging.getLogger(__name__)


class Crediting:
    def __init__(self, context: BillingContext, refunds: Refunds, erased: ErasedPayments) -> None:
        self._c = context
        self._refunds = refunds
        self._erased = erased

    # -- YooKassa: what the API says ------------------------------------------------------------

    async def sync_yookassa_payment(self, payment_id: str) -> Outcome:
        """Re-read a payment from YooKassa and act on what the API says.

        Raises YooKassaUnavailableError when YooKassa cannot be asked (the caller retries).
        """
        c = self._c
        if c.gateway.yookassa is None:
            return Outcome.UNKNOWN
        try:
            payment = await c.gateway.yookassa.get_payment(payment_id)
        except YooKassaNotFoundError:
            log.warning("payment notification for %s: YooKassa does not know it", payment_id)
            return Outcome.UNKNOWN
        record = await c.ledger.by_payment_id(Provider.YOOKASSA, payment.id)
        if record is None:
            record = await self._adopt(payment)
        if record is None:
            log.warning(
                "payment %s is not in our ledger (metadata %s): nothing granted",
                payment.id,
                sorted(payment.metadata),
            )
            return Outcome.UNKNOWN
        return await self.apply_yookassa_payment(record, payment)

    async def sync_yookassa_refund(self, refund_id: str, payment_id: str) -> Outcome:
        """Re-read a refund from YooKassa; act only when it succeeded for the payment named.

        The refund counts whatever the payment's state here: its notification can come before
        the payment's own (or the payment's was lost). The payment is then re-read too, so it is
        closed (refunded in full) or credited (partly refunded) at once, not only by the job.
        """
        c = self._c
        if c.gateway.yookassa is None:
            return Outcome.UNKNOWN
        try:
            refund = await c.gateway.yookassa.get_refund(refund_id)
        except YooKassaNotFoundError:
            log.warning("refund notification for %s: YooKassa does not know it", refund_id)
            return Outcome.UNKNOWN
        if refund.payment_id != payment_id:
            log.error("refund %s: payment id in the notification does not match", refund_id)
            return Outcome.REJECTED
        record = await c.ledger.by_payment_id(Provider.YOOKASSA, refund.payment_id)
        if record is None:
            # Not heard of as paid yet, perhaps not even created (its creation answer lost):
            # learn the payment from the API, which adopts it by the order id in its metadata.
            await self.sync_yookassa_payment(refund.payment_id)
            record = await c.ledger.by_payment_id(Provider.YOOKASSA, refund.payment_id)
        if record is None:
            log.warning("refund %s is for a payment not in our ledger", refund_id)
            return Outcome.UNKNOWN
        outcome = await self._refunds.apply_yookassa(record, refund)
        current = await c.reread(record)
        if current.granted_at is None and current.closed_at is None:
            paid = await self.sync_yookassa_payment(refund.payment_id)
            if outcome is Outcome.ALREADY_DONE and paid is Outcome.REFUNDED:
                outcome = paid
        return outcome

    async def _adopt(self, payment: YooPayment) -> PaymentRecord | None:
        """A payment whose creation answer we lost (crash): find its ledger record by the order
        id we put in its metadata and attach the provider id."""
        ledger = self._c.ledger
        order_id = payment.metadata.get("order_id")
        if not order_id:
            return None
        record = await ledger.get(order_id)
        if record is None or record.provider is not Provider.YOOKASSA:
            return None
        if record.payment_id is None:
            adopted = await ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING, PaymentStatus.CREATE_FAILED],
                extra_filter={"payment_id": None},
                payment_id=payment.id,
                status=PaymentStatus.PENDING,
            )
            return adopted or await ledger.get(order_id)
        return record if record.payment_id == payment.id else None

    async def apply_yookassa_payment(self, record: PaymentRecord, payment: YooPayment) -> Outcome:
        """Act on `payment` as read from YooKassa's API for our ledger `record`."""
        c = self._c
        mismatch = mismatch_of(record, payment)
        if mismatch is not None:
            return await self._reject(record, payment, mismatch)
        if record.erased:
            return await self._erased.settle(record, payment)
        status = payment.status
        if status == "succeeded":
            method = payment.payment_method
            fields: dict[str, Any] = {"status": PaymentStatus.SUCCEEDED, "paid_at": c.now()}
            if method is not None and method.saved:
                fields["payment_method_id"] = method.id
            # Not on a record erasure stripped meanwhile: it must not get a card token back.
            updated = await c.ledger.update(
                record.id, expected=OPEN_STATUSES, extra_filter={"erased_at": None}, **fields
            )
            current = updated or await c.ledger.get(record.id)
            if current is not None and current.erased:
                return await self._erased.settle(current, payment)
            if current is None or current.status is not PaymentStatus.SUCCEEDED:
                log.error(
                    "payment %s succeeded at YooKassa but is %s here",
                    payment.id,
                    current.status if current else "gone",
                )
                return Outcome.REJECTED
            return await self.credit(current, payment)
        if status == "canceled":
            reason = payment.cancellation_details.reason if payment.cancellation_details else None
            updated = await c.ledger.update(
                record.id,
                expected=OPEN_STATUSES,
                status=PaymentStatus.CANCELED,
                failure_reason=reason,
            )
            if updated is None:
                return Outcome.ALREADY_DONE
            if not updated.erased:
                await self.payment_failed(updated, reason)
            return Outcome.CANCELED
        if status == "waiting_for_capture":
            # We ask for capture=true, so this is unusual (a shop set to two-stage payments):
            # capture the verified amount so the user is not left waiting.
            assert c.gateway.yookassa is not None
            captured = await c.gateway.yookassa.capture_payment(
                payment.id, payment.amount, f"capture:{record.id}"
            )
            if captured.status == "waiting_for_capture":
                return Outcome.PENDING
            return await self.apply_yookassa_payment(record, captured)
        await c.ledger.update(record.id, expected=[PaymentStatus.CREATING], status=status)
        return Outcome.PENDING

    async def _reject(self, record: PaymentRecord, payment: YooPayment, mismatch: str) -> Outcome:
        """Close a payment the API contradicts, once: nothing is granted, the owner is told once,
        and the reconciliation job stops re-reading it (it would log the same error for days)."""
        c = self._c
        closed = await c.ledger.update(
            record.id,
            expected=OPEN_STATUSES,
            status=PaymentStatus.REJECTED,
            failure_reason=f"rejected: {mismatch}",
            closed_at=c.now(),
            closed_reason="rejected",
        )
        if closed is None:
            log.info("payment %s: rejected earlier (%s); nothing to do", payment.id, mismatch)
            return Outcome.REJECTED
        c.metrics.closed(record.provider.value, "rejected")
        await c.alert(
            f"YooKassa payment {payment.id} (order {record.id}, status {payment.status}) "
            f"rejected: API data disagrees with the ledger ({mismatch}). Nothing was granted; "
            "if money was taken, refund it in the YooKassa dashboard."
        )
        if not closed.erased:
            await self.payment_failed(closed, "rejected")
        return Outcome.REJECTED

    # -- any provider: crediting a verified payment ---------------------------------------------

    async def credit(self, record: PaymentRecord, payment: YooPayment | None = None) -> Outcome:
        """Extend the subscription for a verified, succeeded payment (once per payment).

        A YooKassa payment is first checked for refunds (`payment` as just read from the API,
        or read now): one refunded in full is closed, never credited.
        """
        c = self._c
        if record.granted_at is not None or record.closed_at is not None:
            return Outcome.ALREADY_DONE
        if record.erased:
            return await self._erased.refund(record, payment)
        record = await self._refunds.known_refunds(record, payment)
        if record.fully_refunded:
            if await c.ledger.close(record.id, "refunded", c.now()) is None:
                return Outcome.ALREADY_DONE
            c.metrics.closed(record.provider.value, "refunded")
            log.info("payment %s was refunded in full before it was credited: closed", record.id)
            return Outcome.REFUNDED
        user_id = record.user_id
        assert user_id is not None
        stars = record.provider is Provider.STARS
        paid = rules.Paid(
            user_id=user_id,
            plan_id=record.plan_id,
            provider=record.provider.value,
            period_days=record.period_days,
            renews=self._renews(record),
            payment_method_id=record.payment_method_id,
            period_end=record.renews_period_end if stars else None,
        )
        key = f"payment:{record.provider.value}:{record.payment_id or record.id}"
        if await c.ledger.payer_being_erased(user_id):
            # /forget is erasing the payer right now: crediting would write their data back.
            # Once the row is stripped, the next notification or job run refunds it.
            return Outcome.PENDING
        change = await c.subscriptions.apply(
            user_id, key, f"paid {record.id}", rules.credit(paid, c.now())
        )
        after = await c.reread(record)
        if after.erased or await c.ledger.payer_being_erased(user_id):
            # The erasure ran while we credited (its delete came before our write): take back
            # what we wrote; the stripped row is refunded (now, or by the next job run). Each
            # side checks after its own write, so one of them sees the other.
            await c.subscriptions.forget(user_id)
            return await self._erased.refund(after, payment) if after.erased else Outcome.PENDING
        await c.ledger.mark_granted(record.id)
        c.metrics.credited(record.provider.value)
        # A refund counted while we credited (its own handler saw no PRO to take back yet):
        # take PRO back now. Each side checks after its own write, so one of them sees both.
        if after.fully_refunded and after.refund_id is not None:
            await self._refunds.revoke(after, after.refund_id, after.refunded_amount)
            return Outcome.REFUNDED
        if not change.applied:
            return Outcome.ALREADY_DONE
        renewed = record.kind is PaymentKind.RENEWAL
        await c.record_event(
            user_id,
            EventName.RENEWED if renewed else EventName.PAID,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            amount=str(record.amount),
            currency=record.currency,
        )
        await c.notify(
            user_id, NoticeKind.RENEWED if renewed else NoticeKind.ACTIVATED, change.after
        )
        return Outcome.CREDITED

    def _renews(self, record: PaymentRecord) -> bool:
        if record.provider is Provider.STARS:
            return record.payment_method_id is not None  # a Stars subscription, not one-off
        return self._c.settings.autopayments and record.payment_method_id is not None

    # -- payments that failed ---------------------------------------------------------------------

    async def payment_failed(self, record: PaymentRecord, reason: str | None) -> None:
        c = self._c
        user_id = record.user_id
        if user_id is None:
            return  # an erased payer: no events, no subscription left to change
        await c.record_event(
            user_id,
            EventName.PAYMENT_FAILED,
            provider=record.provider.value,
            plan_id=record.plan_id,
            order_id=record.id,
            reason=reason,
            kind=record.kind.value,
        )
        if record.kind is PaymentKind.RENEWAL:
            await self.renewal_failed(user_id, record.id)
            return
        others = [
            other
            for other in await c.ledger.open_for_user(user_id, record.provider)
            if other.id != record.id
        ]
        if others:
            return  # another checkout is still open: stay pending
        await c.subscriptions.apply(
            user_id, f"payment-canceled:{record.id}", "payment canceled", rules.payment_canceled()
        )

    async def renewal_failed(self, user_id: int, order_id: str) -> Change:
        """A renewal charge failed: past due until the grace period ends (PRO kept meanwhile)."""
        c = self._c
        grace = timedelta(days=c.settings.grace_period_days)
        change = await c.subscriptions.apply(
            user_id, f"renewal-failed:{order_id}", "renewal failed", rules.renewal_failed(grace)
        )
        if change.applied:
            await c.notify(user_id, NoticeKind.RENEWAL_FAILED, change.after)
        return change


def mismatch_of(record: PaymentRecord, payment: YooPayment) -> str | None:
    """Why the API's payment is not the one our ledger asked for, or None when it is."""
    if payment.amount.value != record.amount:
        return f"amount {payment.amount.value} != {record.amount}"
    if payment.amount.currency != record.currency:
        return f"currency {payment.amount.currency} != {record.currency}"
    expected = {"order_id": record.id, "plan_id": record.plan_id}
    if record.user_id is not None:  # an erased record no longer knows its payer
        expected["user_id"] = str(record.user_id)
    for key, value in expected.items():
        if payment.metadata.get(key) != value:
            return f"metadata {key} does not match"
    return None
