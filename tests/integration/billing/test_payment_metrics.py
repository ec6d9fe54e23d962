"""Payments by end state on /metrics: credited (here) and closed without PRO, by reason
(test_rejected_and_sources.py); a repeated notification is counted once."""

from __future__ import annotations

from tests.integration.billing.test_rejected_and_sources import _checkout

CREDITED = "companion_billing_payments_credited_total"


async def test_a_credited_payment_is_counted_once(billing):
    record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)

    assert await billing.notify("payment.succeeded", payment) == 200
    assert await billing.entitlements.is_pro(1)
    assert billing.metric(CREDITED, provider="yookassa") == 1

    # YooKassa repeats a notification until it gets a 200: credited (and counted) once.
    assert await billing.notify("payment.succeeded", payment) == 200
    assert billing.metric(CREDITED, provider="yookassa") == 1
