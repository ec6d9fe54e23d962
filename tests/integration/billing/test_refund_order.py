"""Refunds heard of before the payment is credited, in any order (issue 13).

YooKassa's notifications come in any order and any of them can be lost; a refund made in the
dashboard can come before the reconciliation job credits a payment whose notification was lost.
A payment refunded in full must never grant PRO; a partial refund keeps PRO (docs/billing.md).
"""

from __future__ import annotations

from decimal import Decimal

from companion.billing.ledger import PaymentStatus
from companion.billing.service import Outcome
from companion.billing.yookassa import Amount, YooKassaClient
from companion.domain.models import SubscriptionStatus


async def _paid(billing, user_id=1, plan="pro_month"):
    """A checkout paid at YooKassa whose notification has not arrived (yet)."""
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    record = await billing.ledger.get(checkout.order_id)
    return record, billing.emulator.pay(record.payment_id)


async def _dashboard_refund(billing, payment_id: str, value: str, key: str) -> dict:
    """A refund made in the YooKassa dashboard; returns the refund YooKassa then notifies."""
    dashboard = YooKassaClient(billing.settings, retry_delay_s=0)
    try:
        refund = await dashboard.create_refund(
            payment_id, Amount(value=Decimal(value), currency="RUB"), key
        )
    finally:
        await dashboard.close()
    return billing.emulator.refunds[refund.id]


async def test_refund_notification_before_the_payment_notification_never_grants_pro(billing):
    record, payment = await _paid(billing)
    refund = await _dashboard_refund(billing, record.payment_id, "449.00", "dash-early")

    assert await billing.notify("refund.succeeded", refund) == 200
    stored = await billing.ledger.get(record.id)
    assert stored.refund_ids == [refund["id"]] and stored.refunded_amount == Decimal("449.00")
    assert not await billing.entitlements.is_pro(1)

    # The payment's own notification comes late: still nothing granted.
    assert await billing.notify("payment.succeeded", payment) == 200
    assert not await billing.entitlements.is_pro(1)
    stored = await billing.ledger.get(record.id)
    assert stored.status is PaymentStatus.SUCCEEDED and stored.granted_at is None
    assert stored.closed_reason == "refunded"
    assert (await billing.store.get(1)).status is not SubscriptionStatus.ACTIVE
    assert "paid" not in await billing.event_names(1)
    assert "activated" not in billing.notifier.kinds(1)
    # Nothing is left for the reconciliation job.
    assert (await billing.jobs.reconcile()).checked == 0


async def test_dashboard_refund_before_reconciliation_credits_nothing(billing):
    record, _ = await _paid(billing)  # the payment notification is lost
    await _dashboard_refund(billing, record.payment_id, "449.00", "dash-lost")  # so is the refund's

    report = await billing.jobs.reconcile()

    assert report.outcomes == {"refunded": 1}
    assert not await billing.entitlements.is_pro(1)
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("449.00") and len(stored.refund_ids) == 1
    assert stored.closed_reason == "refunded"
    assert (
        billing.metric(
            "companion_billing_payments_closed_total", provider="yookassa", reason="refunded"
        )
        == 1
    )


async def test_a_partial_refund_heard_of_first_is_counted_and_pro_is_kept(billing):
    record, payment = await _paid(billing)
    partial = await _dashboard_refund(billing, record.payment_id, "100.00", "dash-part")

    assert await billing.notify("refund.succeeded", partial) == 200
    assert await billing.notify("payment.succeeded", payment) == 200

    assert await billing.entitlements.is_pro(1)  # a partial refund keeps the paid period
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("100.00") and stored.granted_at is not None
    # /refund later returns what is left, and then PRO ends.
    assert await billing.service.refund("1") is Outcome.REFUNDED
    assert (await billing.ledger.get(record.id)).refunded_amount == Decimal("449.00")
    assert not await billing.entitlements.is_pro(1)


async def test_a_refund_for_a_payment_whose_creation_answer_was_lost_is_recorded(billing):
    record, _ = await _paid(billing)
    # We crashed before storing YooKassa's answer: the ledger does not know the payment id.
    await billing.db["payments"].update_one(
        {"_id": record.id}, {"$set": {"status": "creating"}, "$unset": {"payment_id": ""}}
    )
    refund = await _dashboard_refund(billing, record.payment_id, "449.00", "dash-orphan")

    assert await billing.notify("refund.succeeded", refund) == 200

    stored = await billing.ledger.get(record.id)
    assert stored.payment_id == record.payment_id  # adopted by the order id in its metadata
    assert stored.refund_ids == [refund["id"]]
    assert stored.status is PaymentStatus.SUCCEEDED and stored.closed_reason == "refunded"
    assert not await billing.entitlements.is_pro(1)


async def test_a_refund_counted_while_the_payment_is_being_credited_takes_pro_back(
    billing, monkeypatch
):
    record, payment = await _paid(billing)
    refund_status: list[int] = []
    real_apply = billing.store.apply

    async def apply_after_a_refund(user_id, key, reason, decide):
        if key.startswith("payment:") and not refund_status:
            # The refund lands between crediting's refund check and its subscription write;
            # the refund's own handler finds no PRO to take back yet.
            refund = await _dashboard_refund(billing, record.payment_id, "449.00", "dash-race")
            refund_status.append(await billing.notify("refund.succeeded", refund))
        return await real_apply(user_id, key, reason, decide)

    monkeypatch.setattr(billing.store, "apply", apply_after_a_refund)
    assert await billing.notify("payment.succeeded", payment) == 200

    assert refund_status == [200]
    assert not await billing.entitlements.is_pro(1)
    assert (await billing.store.get(1)).status is SubscriptionStatus.REFUNDED
    assert (await billing.ledger.get(record.id)).refunded_amount == Decimal("449.00")


async def test_a_late_canceled_notification_after_success_changes_nothing(billing):
    record, payment = await _paid(billing)
    assert await billing.notify("payment.succeeded", payment) == 200
    stale = dict(payment, status="canceled")  # an old or forged body: the API says succeeded
    assert await billing.notify("payment.canceled", stale) == 200
    assert await billing.entitlements.is_pro(1)
    assert (await billing.ledger.get(record.id)).status is PaymentStatus.SUCCEEDED


async def test_yookassa_lists_the_refunds_of_one_payment(billing):
    record, _ = await _paid(billing)
    for n in range(3):
        await _dashboard_refund(billing, record.payment_id, "10.00", f"dash-page-{n}")
    other, _ = await _paid(billing, 2)
    await _dashboard_refund(billing, other.payment_id, "10.00", "dash-other")
    listed = await billing.client.list_refunds(record.payment_id)
    assert len(listed) == 3 and {r.payment_id for r in listed} == {record.payment_id}
    payment = await billing.client.get_payment(record.payment_id)
    assert payment.refunded_amount == Amount(value=Decimal("30.00"), currency="RUB")
