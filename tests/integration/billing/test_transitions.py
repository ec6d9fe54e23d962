"""The less common transitions, each driven through the service as it happens in production."""

from __future__ import annotations

from datetime import timedelta

from companion.domain.models import SubscriptionStatus as S


async def _buy(billing, user_id=1, plan="pro_month", method="pm-1"):
    user = await billing.users.get(user_id) or await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    record = await billing.ledger.get(checkout.order_id)
    return record, billing.emulator.pay(record.payment_id, method_id=method)


async def _status(billing, user_id=1):
    return (await billing.store.get(user_id)).status


async def _path(billing, user_id=1):
    return [(t["from"], t["to"]) for t in await billing.store.transitions(user_id)]


async def test_buy_again_after_expiry(billing):
    _, payment = await _buy(billing, plan="pro_week")
    await billing.notify("payment.succeeded", payment)
    await billing.service.cancel(1)
    billing.clock.advance(days=8)
    await billing.jobs.expire_due()
    assert await _status(billing) is S.EXPIRED
    _, payment = await _buy(billing, plan="pro_month")
    assert await _status(billing) is S.PENDING
    await billing.notify("payment.succeeded", payment)
    sub = await billing.store.get(1)
    assert sub.status is S.ACTIVE
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)
    assert await _path(billing) == [
        ("none", "pending"),
        ("pending", "active"),
        ("active", "cancelled"),
        ("cancelled", "expired"),
        ("expired", "pending"),
        ("pending", "active"),
    ]


async def test_buy_again_after_refund(billing):
    _, payment = await _buy(billing)
    await billing.notify("payment.succeeded", payment)
    await billing.service.refund("1")
    assert await _status(billing) is S.REFUNDED
    _, payment = await _buy(billing)
    assert await _status(billing) is S.PENDING
    await billing.notify("payment.succeeded", payment)
    assert await _status(billing) is S.ACTIVE
    assert ("refunded", "pending") in await _path(billing)


async def test_canceled_checkout_after_an_old_period_goes_back_to_expired(billing):
    _, payment = await _buy(billing, plan="pro_week")
    await billing.notify("payment.succeeded", payment)
    await billing.service.cancel(1)
    billing.clock.advance(days=8)
    await billing.jobs.expire_due()
    user = await billing.users.get(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    declined = billing.emulator.decline(record.payment_id)
    await billing.notify("payment.canceled", declined)
    assert await _status(billing) is S.EXPIRED
    assert (await _path(billing))[-1] == ("pending", "expired")


async def test_cancel_during_grace_keeps_the_grace_end(billing):
    _, payment = await _buy(billing)
    await billing.notify("payment.succeeded", payment)
    billing.emulator.saved_method_outcome["pm-1"] = "insufficient_funds"
    billing.clock.advance(days=29, hours=12)
    await billing.jobs.renew_due()
    past_due = await billing.store.get(1)
    assert past_due.status is S.PAST_DUE
    cancelled = await billing.service.cancel(1)
    assert cancelled.status is S.CANCELLED
    assert cancelled.current_period_end == past_due.grace_until
    assert await billing.entitlements.is_pro(1)
    assert ("past_due", "cancelled") in await _path(billing)


async def test_refund_while_past_due(billing):
    _, payment = await _buy(billing)
    await billing.notify("payment.succeeded", payment)
    billing.emulator.saved_method_outcome["pm-1"] = "insufficient_funds"
    billing.clock.advance(days=29, hours=12)
    await billing.jobs.renew_due()
    await billing.service.refund("1")
    assert await _status(billing) is S.REFUNDED
    assert ("past_due", "refunded") in await _path(billing)


async def test_refund_after_cancel_and_after_expiry(billing):
    _, payment = await _buy(billing, user_id=1)
    await billing.notify("payment.succeeded", payment)
    await billing.service.cancel(1)
    await billing.service.refund("1")
    assert ("cancelled", "refunded") in await _path(billing, 1)

    _, payment = await _buy(billing, user_id=2, plan="pro_week")
    await billing.notify("payment.succeeded", payment)
    await billing.service.cancel(2)
    billing.clock.advance(days=8)
    await billing.jobs.expire_due()
    await billing.service.refund("2")
    assert ("expired", "refunded") in await _path(billing, 2)
    assert not await billing.entitlements.is_pro(2)
