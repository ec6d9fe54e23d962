"""Renewal charges of saved YooKassa payment methods (called by the renewal job), and sending a
`creating` ledger record's request again with the same key (the reconciliation job)."""

from __future__ import annotations

import logging
import uuid

from companion.billing.context import BillingContext, Outcome
from companion.billing.crediting import Crediting
from companion.billing.records import PaymentKind, PaymentRecord, PaymentStatus
from companion.billing.yookassa_models import YooKassaRequestError, YooKassaUnavailableError
from companion.billing.yookassa_requests import yookassa_record
from companion.domain.models import Subscription

log = logging.getLogger(__name__)


class Renewals:
    def __init__(self, context: BillingContext, crediting: Crediting) -> None:
        self._c = context
        self._crediting = crediting

    async def charge_renewal(self, subscription: Subscription, attempt: int) -> Outcome:
        """Charge the saved payment method for the next period of `subscription`.

        The idempotency key names the user, the period and the attempt, so a job that runs twice
        (or crashed after sending) never charges twice for one attempt.
        """
        c = self._c
        if c.gateway.yookassa is None or subscription.current_period_end is None:
            return Outcome.UNKNOWN
        user = await c.users.get(subscription.user_id)
        if user is None or subscription.payment_method_id is None:
            return Outcome.UNKNOWN
        period_end = subscription.current_period_end
        key = f"renew:{user.id}:{int(period_end.timestamp())}:{attempt}"
        plan = c.plans.find(subscription.plan_id)
        if plan is None:
            log.warning(
                "plan %s is no longer sold: user %s is not renewed", subscription.plan_id, user.id
            )
            await self._crediting.renewal_failed(user.id, key)
            return Outcome.CANCELED
        record, created = await c.ledger.create(
            yookassa_record(
                c.settings,
                uuid.uuid4().hex,
                key,
                user,
                plan,
                PaymentKind.RENEWAL,
                c.now(),
                payment_method_id=subscription.payment_method_id,
                renews_period_end=period_end,
            )
        )
        if not created and record.status is not PaymentStatus.CREATING:
            return Outcome.ALREADY_DONE
        return await self.send_created(record)

    async def send_created(self, record: PaymentRecord) -> Outcome:
        """Send (or send again, with the same key) the request of a `creating` ledger record."""
        c = self._c
        yookassa = c.gateway.yookassa
        assert yookassa is not None
        if record.request_body is None or record.idempotency_key is None:
            # The payer was erased before YooKassa answered: the request cannot be repeated (its
            # body named the payer). A payment YooKassa made for it still carries our order id,
            # so its notification is adopted and refunded.
            await c.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason="erased before YooKassa answered",
            )
            return Outcome.CANCELED
        try:
            payment = await yookassa.create_payment(record.request_body, record.idempotency_key)
        except YooKassaUnavailableError as exc:
            log.warning("payment %s not sent yet (%s); will retry", record.id, exc)
            return Outcome.PENDING
        except YooKassaRequestError as exc:
            failed = await c.ledger.update(
                record.id,
                expected=[PaymentStatus.CREATING],
                status=PaymentStatus.CREATE_FAILED,
                failure_reason=str(exc)[:300],
            )
            if failed is not None:
                await self._crediting.payment_failed(failed, exc.code)
            return Outcome.CANCELED
        attached = await c.ledger.update(
            record.id,
            expected=[PaymentStatus.CREATING],
            payment_id=payment.id,
            status=PaymentStatus.PENDING,
        )
        current = attached or await c.ledger.get(record.id)
        assert current is not None
        return await self._crediting.apply_yookassa_payment(current, payment)
