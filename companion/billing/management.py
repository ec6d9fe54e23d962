"""Subscription management: what the user sees in /subscription, turning renewal off and back
on, and stopping every renewal before their data is erased (the before-erasure hook)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable

from companion.billing import rules, stars_subscriptions
from companion.billing.context import BillingContext, SubscriptionView
from companion.billing.crediting import Crediting
from companion.billing.errors import NotCancellableError
from companion.billing.records import Provider
from companion.domain.models import EventName, Subscription, SubscriptionStatus

log = logging.getLogger(__name__)

S = SubscriptionStatus


class SubscriptionManagement:
    def __init__(self, context: BillingContext, crediting: Crediting) -> None:
        self._c = context
        self._crediting = crediting

    async def view(self, user_id: int) -> SubscriptionView:
        c = self._c
        subscription = await c.subscriptions.get(user_id)
        now = c.now()
        if subscription is None or subscription.status is S.NONE:
            return SubscriptionView(subscription, None, False, None, False, False)
        plan = c.plans.find(subscription.plan_id)
        has_pro = subscription.grants_pro(now)
        can_cancel = has_pro and subscription.auto_renew
        can_resume = subscription.status is S.CANCELLED and has_pro and c.can_renew(subscription)
        return SubscriptionView(
            subscription, plan, has_pro, rules.pro_until(subscription), can_cancel, can_resume
        )

    async def cancel(self, user_id: int) -> Subscription:
        """Stop renewals; PRO stays until the period (or grace) ends. Raises
        NotCancellableError; a Bot API error propagates with nothing changed (retry)."""
        c = self._c
        subscription = await c.subscriptions.get(user_id)
        if subscription is None or not subscription.auto_renew:
            raise NotCancellableError()
        stars = c.gateway.stars
        if (
            subscription.provider == Provider.STARS.value
            and subscription.payment_method_id
            and stars is not None
        ):
            await stars.edit_user_star_subscription(user_id, subscription.payment_method_id, True)
        # Any other Stars subscription the ledger knows (two purchases that raced) stops too,
        # before anything changes here: a Bot API error leaves all as it was, to retry.
        await self._cancel_star_subscriptions(user_id, skip=[subscription.payment_method_id or ""])
        change = await c.subscriptions.apply(
            user_id, f"cancel:{user_id}:{uuid.uuid4().hex}", "cancelled by user", rules.cancel()
        )
        if not change.applied:
            raise NotCancellableError()
        await c.record_event(user_id, EventName.CANCELLED, plan_id=change.after.plan_id)
        return change.after

    async def resume(self, user_id: int) -> Subscription:
        """Turn renewal back on for a cancelled subscription that has not ended yet."""
        c = self._c
        subscription = await c.subscriptions.get(user_id)
        if (
            subscription is None
            or subscription.status is not S.CANCELLED
            or not subscription.grants_pro(c.now())
            or not c.can_renew(subscription)
        ):
            raise NotCancellableError()
        stars = c.gateway.stars
        if subscription.provider == Provider.STARS.value and stars is not None:
            assert subscription.payment_method_id is not None
            await stars.edit_user_star_subscription(user_id, subscription.payment_method_id, False)
        change = await c.subscriptions.apply(
            user_id, f"resume:{user_id}:{uuid.uuid4().hex}", "resumed by user", rules.resume()
        )
        if not change.applied:
            raise NotCancellableError()
        return change.after

    async def stop_renewals(self, user_id: int) -> bool:
        """Cancel renewals before /forget erases the user: Telegram goes on charging a Stars
        subscription whose record we deleted. False when nothing renews; a Bot API or store
        error propagates, and then the user's data must not be erased.

        Open YooKassa checkouts are settled first, best effort (`close_open_checkouts`).
        """
        await self.close_open_checkouts(user_id)
        try:
            await self.cancel(user_id)
        except NotCancellableError:
            # Nothing renews on the subscription itself; a Stars subscription it no longer
            # names may still be charging (every live one in the ledger is stopped).
            return bool(await self._cancel_star_subscriptions(user_id))
        return True

    async def close_open_checkouts(self, user_id: int) -> None:
        """Before erasure: cancel the user's open YooKassa payments where YooKassa allows it
        (only a payment waiting for capture can be cancelled by the shop), and settle those
        already decided. A `pending` link stays payable at YooKassa; if it is paid after the
        erasure, the payment is refunded automatically (`companion.billing.erased`). Never
        raises: what is not settled now is settled by that refund path."""
        c = self._c
        yookassa = c.gateway.yookassa
        if yookassa is None:
            return
        try:
            records = await c.ledger.open_for_user(user_id, Provider.YOOKASSA)
        except Exception:  # the erasure that follows reports a database problem itself
            log.warning("open checkouts of a user being erased could not be read")
            return
        for record in records:
            if record.payment_id is None:
                continue
            try:
                payment = await yookassa.get_payment(record.payment_id)
                if payment.status == "waiting_for_capture":
                    payment = await yookassa.cancel_payment(
                        payment.id, f"erased-cancel:{record.id}"
                    )
                await self._crediting.apply_yookassa_payment(record, payment)
            except Exception as exc:  # settled later by the refund path; erasure goes on
                log.warning(
                    "open payment %s not settled before erasure (%s); a payment that still "
                    "arrives will be refunded",
                    record.id,
                    type(exc).__name__,
                )

    async def _cancel_star_subscriptions(
        self, user_id: int, *, skip: Iterable[str] = ()
    ) -> list[str]:
        c = self._c
        if c.gateway.stars is None:
            return []
        return await stars_subscriptions.cancel_subscriptions(
            c.gateway.stars, c.ledger, user_id, c.now(), skip=skip
        )
