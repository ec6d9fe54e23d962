"""What an admin does by hand: `/refund USER_ID | PAYMENT_ID` and `/grant USER_ID PLAN DAYS`."""

from __future__ import annotations

import uuid

from companion.billing import rules
from companion.billing.context import BillingContext, Outcome
from companion.billing.errors import NothingToRefundError, PaymentUnavailableError
from companion.billing.ports import NoticeKind
from companion.billing.records import PaymentRecord, PaymentStatus, Provider
from companion.billing.refunds import Refunds
from companion.billing.yookassa_models import (
    Amount,
    YooKassaRequestError,
    YooKassaUnavailableError,
)
from companion.domain.models import Subscription

MAX_GRANT_DAYS = 3660


class AdminService:
    def __init__(self, context: BillingContext, refunds: Refunds) -> None:
        self._c = context
        self._refunds = refunds

    async def find_payment(self, reference: str) -> PaymentRecord | None:
        """A user id (their last paid payment), a provider payment id, or our order id."""
        ledger = self._c.ledger
        reference = reference.strip()
        if reference.isdigit():
            return await ledger.last_paid(int(reference))
        for provider in Provider:
            record = await ledger.by_payment_id(provider, reference)
            if record is not None:
                return record
        return await ledger.get(reference)

    async def refund(self, reference: str) -> Outcome:
        """Refund what is left of a whole payment; revokes PRO when the refund succeeds.
        Raises NothingToRefundError, PaymentUnavailableError."""
        c = self._c
        record = await self.find_payment(reference)
        if record is None or record.status is not PaymentStatus.SUCCEEDED:
            raise NothingToRefundError(reference)
        if record.fully_refunded:
            return Outcome.ALREADY_DONE
        assert record.payment_id is not None
        # What is left after earlier partial refunds (made in the YooKassa dashboard).
        remaining = record.amount - record.refunded_amount
        if record.provider is Provider.STARS:
            if c.gateway.stars is None:
                raise PaymentUnavailableError("Stars are not configured")
            if record.user_id is None:
                raise NothingToRefundError(reference)  # Telegram needs the erased payer's id
            await c.gateway.stars.refund_star_payment(record.user_id, record.payment_id)
            return await self._refunds.record(record, f"stars:{record.payment_id}", remaining)
        yookassa = c.gateway.yookassa
        if yookassa is None:
            raise PaymentUnavailableError("YooKassa is not configured")
        try:
            # The amount is in the key: after a partial refund made meanwhile, a retried
            # /refund asks for what is left, which YooKassa refuses under a reused key.
            refund = await yookassa.create_refund(
                record.payment_id,
                Amount(value=remaining, currency=record.currency),
                f"refund:{record.id}:{remaining}",
                description=record.description[:250],
            )
        except YooKassaUnavailableError as exc:
            raise PaymentUnavailableError(str(exc)) from exc
        except YooKassaRequestError as exc:
            raise NothingToRefundError(exc.description) from exc
        return await self._refunds.apply_yookassa(record, refund)

    async def grant(
        self, user_id: int, plan_id: str, days: int, *, by: int, request_id: str | None = None
    ) -> Subscription:
        """Give PRO for `days` (support, promotions); adds to a running period. Raises
        UnknownPlanError, ValueError (days out of range).

        The same `request_id` grants once (a double-tapped confirm button in the owner's
        console); without one every call grants again."""
        c = self._c
        plan = c.plans.get(plan_id)
        if days <= 0 or days > MAX_GRANT_DAYS:
            raise ValueError("days must be between 1 and 3660")
        change = await c.subscriptions.apply(
            user_id,
            f"grant:{by}:{user_id}:{request_id or uuid.uuid4().hex}",
            f"granted by {by}",
            rules.grant(user_id, plan.id, days, c.now()),
        )
        if change.applied:
            await c.notify(user_id, NoticeKind.GRANTED, change.after)
        return change.after
