"""A payer erased while a YooKassa checkout is open, and records a job cannot read (issue 13).

Erasure keeps a payment only as its accounting fields (`user_ref` instead of `user_id`, no
idempotency key, no period). Such a record must never stop a job for everyone, a payment on it
must be answered 200 and refunded, and an open checkout is cancelled where YooKassa allows it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

from companion.billing.jobs import BillingScheduler
from companion.billing.ledger import PaymentStatus
from companion.domain.models import SubscriptionStatus
from companion.storage import collections as c
from companion.storage.crypto import PlaintextCipher
from companion.storage.user_data import UserDataService

PAYER = 500123


async def _checkout(billing, user_id=1, plan="pro_month"):
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    return await billing.ledger.get(checkout.order_id)


async def _forget(billing, user_id: int) -> None:
    """What /forget does: the before-erasure hook, then the erasure itself."""
    await billing.service.stop_renewals(user_id)
    await UserDataService(billing.db, PlaintextCipher()).erase(user_id)


def _refunds_of(billing, payment_id: str) -> list[dict]:
    return [r for r in billing.emulator.refunds.values() if r["payment_id"] == payment_id]


async def test_erased_payer_paying_the_open_link_is_answered_200_and_refunded(billing, caplog):
    record = await _checkout(billing, PAYER)
    await _forget(billing, PAYER)
    stripped = await billing.db[c.PAYMENTS].find_one({"_id": record.id})
    assert "user_id" not in stripped and stripped["user_ref"]

    # The link is still open at YooKassa (a pending payment cannot be cancelled by the shop).
    payment = billing.emulator.pay(record.payment_id)
    caplog.set_level(logging.DEBUG, logger="companion")
    assert await billing.notify("payment.succeeded", payment) == 200

    [refund] = _refunds_of(billing, record.payment_id)
    assert refund["amount"] == {"value": "449.00", "currency": "RUB"}
    [request] = [r for r in billing.emulator.requests if r.path == "/v3/refunds"]
    assert request.idempotence_key.startswith(f"erased-refund:{record.id}:")
    stored = await billing.ledger.get(record.id)
    assert stored.erased and stored.user_id is None
    assert stored.status is PaymentStatus.SUCCEEDED and stored.granted_at is None
    assert stored.refunded_amount == Decimal("449.00") and stored.refund_ids == [refund["id"]]
    assert stored.closed_reason == "erased"
    # Nothing about the person came back: no subscription, no events, no card token.
    assert await billing.store.get(PAYER) is None
    assert await billing.event_names(PAYER) == []
    raw = await billing.db[c.PAYMENTS].find_one({"_id": record.id})
    assert "user_id" not in raw and "payment_method_id" not in raw
    assert (
        billing.metric(
            "companion_billing_payments_closed_total", provider="yookassa", reason="erased"
        )
        == 1
    )
    assert str(PAYER) not in caplog.text  # erased: the id is in no log line

    # YooKassa redelivers, and then notifies the refund: no second refund, still 200.
    assert await billing.notify("payment.succeeded", payment) == 200
    assert await billing.notify("refund.succeeded", refund) == 200
    assert len(_refunds_of(billing, record.payment_id)) == 1
    assert (await billing.ledger.get(record.id)).refunded_amount == Decimal("449.00")


async def test_reconciliation_survives_an_erased_record_and_credits_everyone_else(billing):
    erased = await _checkout(billing, 1)
    await _forget(billing, 1)
    other = await _checkout(billing, 2)
    billing.emulator.pay(other.payment_id)  # user 2's notification is lost
    billing.emulator.pay(erased.payment_id)  # and so is the erased payer's

    report = await billing.jobs.reconcile()

    assert report.errors == 0
    assert report.outcomes == {"credited": 1, "refunded": 1}
    assert await billing.entitlements.is_pro(2)
    assert len(_refunds_of(billing, erased.payment_id)) == 1
    assert (await billing.ledger.get(erased.id)).closed_reason == "erased"
    again = await billing.jobs.reconcile()
    assert again.checked == 0


async def test_an_open_checkout_waiting_for_capture_is_cancelled_before_erasure(billing):
    record = await _checkout(billing, 1)
    billing.emulator.payments[record.payment_id]["_capture"] = False  # a two-stage shop
    billing.emulator.pay(record.payment_id)
    assert billing.emulator.payments[record.payment_id]["status"] == "waiting_for_capture"

    await _forget(billing, 1)

    assert billing.emulator.payments[record.payment_id]["status"] == "canceled"
    [cancel] = [r for r in billing.emulator.requests if r.path.endswith("/cancel")]
    assert cancel.idempotence_key == f"erased-cancel:{record.id}"
    assert (await billing.ledger.get(record.id)).status is PaymentStatus.CANCELED
    assert billing.emulator.refunds == {}


async def test_erasure_goes_on_when_yookassa_cannot_be_asked(billing):
    record = await _checkout(billing, 1)
    billing.emulator.fail_next(10, 503)
    await _forget(billing, 1)  # best effort: YooKassa down does not block the erasure
    billing.emulator._fail_next.clear()
    assert await billing.users.get(1) is None
    payment = billing.emulator.pay(record.payment_id)
    assert await billing.notify("payment.succeeded", payment) == 200
    assert len(_refunds_of(billing, record.payment_id)) == 1


async def test_an_erased_renewal_left_unanswered_is_closed_not_crashed_on(billing):
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    billing.emulator.pay(record.payment_id, method_id="pm-1")
    await billing.service.sync_yookassa_payment(record.payment_id)
    billing.clock.advance(days=29, hours=12)
    billing.emulator.fail_next(3, 503)  # the renewal request gets no answer
    assert (await billing.jobs.renew_due()).outcomes == {"pending": 1}
    await UserDataService(billing.db, PlaintextCipher()).erase(1)
    billing.clock.advance(minutes=5)

    report = await billing.jobs.reconcile()

    assert report.errors == 0 and report.outcomes == {"canceled": 1}
    renewal = await billing.db[c.PAYMENTS].find_one({"kind": "renewal"})
    assert renewal["status"] == "create_failed" and "user_id" not in renewal


async def test_one_unreadable_record_never_stops_a_job(billing, caplog):
    now = billing.clock.now
    # A payment row and a subscription row no model can read (hand-edited, half-migrated...).
    await billing.db[c.PAYMENTS].insert_one(
        {
            "_id": "broken-order",
            "provider": "yookassa",
            "status": "pending",
            "amount": "not money",
            "created_at": now,
        }
    )
    await billing.db[c.SUBSCRIPTIONS].insert_one(
        {
            "_id": 777001,
            "user_id": 777001,
            "status": "active",
            "plan_id": None,
            "current_period_end": now - timedelta(days=1),
            "auto_renew": "maybe",
        }
    )
    # Next to them, real work for the jobs: a lost notification and a period that ended.
    lost = await _checkout(billing, 2)
    billing.emulator.pay(lost.payment_id)
    await billing.service.grant(3, "pro_week", 1, by=99)
    billing.clock.advance(days=2)

    caplog.set_level(logging.DEBUG, logger="companion")
    jobs = billing.jobs
    reconcile = await jobs.reconcile()
    expire = await jobs.expire_due()
    renew = await jobs.renew_due()

    assert reconcile.outcomes == {"credited": 1}
    assert expire.outcomes == {"expired": 1}
    assert renew.errors == 0
    assert (await billing.store.get(3)).status is SubscriptionStatus.EXPIRED
    assert billing.metric("companion_billing_unreadable_records_total", collection="payments") >= 1
    assert (
        billing.metric("companion_billing_unreadable_records_total", collection="subscriptions")
        >= 2
    )  # expiry and renewal both met it
    assert "broken-order" in caplog.text  # the operator can find the row...
    assert "777001" not in caplog.text  # ...but a user id never reaches the log


async def test_a_record_whose_step_fails_is_counted_and_the_others_go_on(billing):
    first = await _checkout(billing, 1)
    second = await _checkout(billing, 2)
    billing.emulator.pay(first.payment_id)
    billing.emulator.pay(second.payment_id)
    billing.emulator.fail_next(3, 503)  # YooKassa cannot be asked about the first one

    report = await billing.jobs.reconcile()

    assert report.errors == 1 and report.outcomes == {"credited": 1}
    assert billing.metric("companion_billing_job_failures_total", job="reconcile") == 1
    assert await billing.entitlements.is_pro(2)
    assert (await billing.jobs.reconcile()).outcomes == {"credited": 1}
    assert await billing.entitlements.is_pro(1)


async def test_a_notification_for_an_unreadable_record_is_a_500_without_a_traceback(
    billing, caplog
):
    record = await _checkout(billing, PAYER)
    payment = billing.emulator.pay(record.payment_id)
    # The row was damaged by hand: a retry may succeed once it is fixed, so 500 (retried).
    await billing.db[c.PAYMENTS].update_one({"_id": record.id}, {"$set": {"amount": "n/a"}})
    caplog.set_level(logging.DEBUG, logger="companion")
    assert await billing.notify("payment.succeeded", payment) == 500
    assert "ValidationError" in caplog.text
    assert not [r for r in caplog.records if r.exc_info]  # a traceback would quote the row
    assert str(PAYER) not in caplog.text


async def test_expiry_runs_while_renewals_keep_failing(billing, monkeypatch):
    await billing.service.grant(3, "pro_week", 1, by=99)
    billing.clock.advance(days=2)
    jobs = billing.jobs

    async def renewals_broken():
        raise RuntimeError("renewals cannot run")

    monkeypatch.setattr(jobs, "renew_due", renewals_broken)
    scheduler = BillingScheduler(jobs, interval_s=0.05, reconcile_interval_s=60)
    scheduler.start()
    try:
        for _ in range(200):
            if (await billing.store.get(3)).status is SubscriptionStatus.EXPIRED:
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
    assert (await billing.store.get(3)).status is SubscriptionStatus.EXPIRED


async def test_a_payment_credited_while_its_payer_is_erased_writes_nothing_back(
    billing, monkeypatch
):
    record = await _checkout(billing, PAYER)
    payment = billing.emulator.pay(record.payment_id)
    real_apply = billing.store.apply

    async def erased_just_before_the_write(user_id, key, reason, decide):
        if key.startswith("payment:"):
            # /forget lands between crediting's checks and its subscription write.
            await UserDataService(billing.db, PlaintextCipher()).erase(PAYER)
        return await real_apply(user_id, key, reason, decide)

    monkeypatch.setattr(billing.store, "apply", erased_just_before_the_write)
    assert await billing.notify("payment.succeeded", payment) == 200

    for collection, field in c.USER_DATA_FIELDS.items():
        assert await billing.db[collection].count_documents({field: PAYER}) == 0, collection
    assert not await billing.entitlements.is_pro(PAYER)
    stored = await billing.ledger.get(record.id)
    assert stored.erased and stored.granted_at is None and stored.closed_reason == "erased"
    assert len(_refunds_of(billing, record.payment_id)) == 1
    assert billing.notifier.kinds(PAYER) == []
