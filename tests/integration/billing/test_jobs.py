"""Renewal, expiry and reconciliation jobs, including crashes between steps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from companion.billing.errors import NotCancellableError
from companion.billing.jobs import BillingScheduler
from companion.billing.ledger import PaymentStatus
from companion.domain.models import SubscriptionStatus
from tests.integration.billing.conftest import build_billing


async def _subscribe(billing, user_id=1, plan="pro_month", method="pm-1"):
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id, method_id=method)
    assert await billing.notify("payment.succeeded", payment) == 200
    return await billing.store.get(user_id)


def _renewal_requests(billing):
    return [
        r
        for r in billing.emulator.requests
        if r.path == "/v3/payments" and r.body.get("payment_method_id")
    ]


async def test_renewal_charges_the_saved_method_before_the_period_ends(billing):
    sub = await _subscribe(billing)
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=1)  # 23 h before the end: inside renew_before_hours
    report = await jobs.renew_due()
    assert report.outcomes == {"credited": 1}
    [request] = _renewal_requests(billing)
    assert request.body["payment_method_id"] == "pm-1"
    assert "confirmation" not in request.body
    assert request.body["metadata"]["kind"] == "renewal"
    assert request.idempotence_key.startswith("renew:1:")
    renewed = await billing.store.get(1)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.current_period_end == sub.current_period_end + timedelta(days=30)
    assert "renewed" in await billing.event_names(1)
    assert billing.notifier.kinds(1) == ["activated", "renewed"]
    # Running again changes nothing: the next period is far away.
    assert (await jobs.renew_due()).checked == 0
    assert len(_renewal_requests(billing)) == 1


async def test_concurrent_renewal_runs_charge_once(billing):
    await _subscribe(billing)
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=12)
    await asyncio.gather(jobs.renew_due(), jobs.renew_due(), jobs.renew_due())
    assert len({r.idempotence_key for r in _renewal_requests(billing)}) == 1
    charged = [
        p for p in billing.emulator.payments.values() if p["metadata"].get("kind") == "renewal"
    ]
    assert len(charged) == 1
    assert (await billing.event_names(1)).count("renewed") == 1


async def test_failed_renewal_goes_past_due_then_expires_after_grace(billing):
    sub = await _subscribe(billing)
    end = sub.current_period_end
    billing.emulator.saved_method_outcome["pm-1"] = "insufficient_funds"
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=12)
    await jobs.renew_due()
    past_due = await billing.store.get(1)
    assert past_due.status is SubscriptionStatus.PAST_DUE
    assert past_due.grace_until == end + timedelta(days=3)
    assert await billing.entitlements.is_pro(1)  # grace keeps PRO
    assert billing.notifier.kinds(1) == ["activated", "renewal-failed"]
    assert "payment_failed" in await billing.event_names(1)
    # One retry a day during grace, each with its own key.
    billing.clock.advance(days=1)
    await jobs.renew_due()
    await jobs.renew_due()
    assert len(_renewal_requests(billing)) == 2
    # Grace over: expired, PRO gone, told once.
    billing.clock.now = end + timedelta(days=3, minutes=1)
    report = await jobs.expire_due()
    assert report.outcomes == {"expired": 1}
    assert (await billing.store.get(1)).status is SubscriptionStatus.EXPIRED
    assert not await billing.entitlements.is_pro(1)
    assert billing.notifier.kinds(1)[-1] == "expired"
    assert (await jobs.expire_due()).checked == 0


async def test_retry_during_grace_reactivates(billing):
    await _subscribe(billing)
    billing.emulator.saved_method_outcome["pm-1"] = "insufficient_funds"
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=12)
    await jobs.renew_due()
    billing.emulator.saved_method_outcome["pm-1"] = "succeeded"
    billing.clock.advance(days=1)
    await jobs.renew_due()
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.grace_until is None
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)


async def test_cancelled_keeps_pro_until_the_end_then_expires(billing):
    sub = await _subscribe(billing)
    cancelled = await billing.service.cancel(1)
    assert cancelled.status is SubscriptionStatus.CANCELLED and not cancelled.auto_renew
    assert await billing.entitlements.is_pro(1)
    assert "cancelled" in await billing.event_names(1)
    with pytest.raises(NotCancellableError):
        await billing.service.cancel(1)
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=12)
    await jobs.renew_due()
    assert _renewal_requests(billing) == []
    billing.clock.now = sub.current_period_end + timedelta(seconds=1)
    await jobs.expire_due()
    assert (await billing.store.get(1)).status is SubscriptionStatus.EXPIRED
    assert not await billing.entitlements.is_pro(1)


async def test_resume_turns_renewal_back_on(billing):
    await _subscribe(billing)
    await billing.service.cancel(1)
    view = await billing.service.view(1)
    assert view.can_resume and not view.can_cancel
    resumed = await billing.service.resume(1)
    assert resumed.status is SubscriptionStatus.ACTIVE and resumed.auto_renew


async def test_without_autopayments_the_period_simply_expires(
    mongo_db, redis_client, redis_prefix, yookassa
):
    billing = await build_billing(
        mongo_db, redis_client, redis_prefix, yookassa, autopayments=False
    )
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_week")
    assert "save_payment_method" not in yookassa.requests[-1].body
    record = await billing.ledger.get(checkout.order_id)
    assert record is not None and record.payment_id is not None
    payment = yookassa.pay(record.payment_id)
    await billing.service.sync_yookassa_payment(payment["id"])
    sub = await billing.store.get(1)
    assert sub is not None
    assert sub.status is SubscriptionStatus.ACTIVE and not sub.auto_renew
    jobs = billing.jobs
    billing.clock.advance(days=7, seconds=1)
    assert (await jobs.renew_due()).checked == 0
    await jobs.expire_due()
    expired = await billing.store.get(1)
    assert expired is not None and expired.status is SubscriptionStatus.EXPIRED
    await billing.client.close()


async def test_reconciliation_heals_a_lost_notification(billing):
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    billing.emulator.pay(record.payment_id)  # paid, but the notification never arrives
    assert not await billing.entitlements.is_pro(1)
    report = await billing.jobs.reconcile()
    assert report.outcomes == {"credited": 1}
    assert await billing.entitlements.is_pro(1)
    assert (await billing.jobs.reconcile()).checked == 0


async def test_crash_after_paid_before_grant_is_granted_by_reconciliation(billing):
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    billing.emulator.pay(record.payment_id)
    # The process marked the ledger paid and died before crediting the subscription.
    await billing.ledger.update(
        record.id,
        expected=[PaymentStatus.PENDING],
        status=PaymentStatus.SUCCEEDED,
        paid_at=billing.clock.now,
    )
    assert not await billing.entitlements.is_pro(1)
    report = await billing.jobs.reconcile()
    assert report.outcomes == {"credited": 1}
    assert await billing.entitlements.is_pro(1)
    assert (await billing.ledger.get(record.id)).granted_at is not None


async def test_crash_after_grant_before_marking_it_never_credits_twice(billing, monkeypatch):
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id)

    async def crash(_record_id):
        raise RuntimeError("process died")

    with monkeypatch.context() as patch:
        patch.setattr(billing.ledger, "mark_granted", crash)
        assert await billing.notify("payment.succeeded", payment) == 500
    first = await billing.store.get(1)
    assert first.status is SubscriptionStatus.ACTIVE
    report = await billing.jobs.reconcile()
    assert report.outcomes == {"already_done": 1}
    again = await billing.store.get(1)
    assert again.current_period_end == first.current_period_end
    assert (await billing.ledger.get(record.id)).granted_at is not None
    assert await billing.notify("payment.succeeded", payment) == 200
    assert (await billing.store.get(1)).current_period_end == first.current_period_end


async def test_renewal_sent_while_yookassa_is_down_is_finished_with_the_same_key(billing):
    await _subscribe(billing)
    jobs = billing.jobs
    billing.clock.advance(days=29, hours=12)
    billing.emulator.fail_next(3, 503)
    report = await jobs.renew_due()
    assert report.outcomes == {"pending": 1}
    [open_record] = [
        r for r in await billing.ledger.for_user(1) if r.status is PaymentStatus.CREATING
    ]
    billing.clock.advance(minutes=5)
    report = await jobs.reconcile()
    assert report.outcomes == {"credited": 1}
    keys = {r.idempotence_key for r in _renewal_requests(billing)}
    assert keys == {open_record.idempotency_key}
    assert (await billing.event_names(1)).count("renewed") == 1


async def test_unanswered_checkout_is_abandoned_not_left_open(billing):
    user = await billing.user(1)
    billing.emulator.fail_next(3, 500)
    with pytest.raises(Exception):  # noqa: B017 - PaymentUnavailableError, tested elsewhere
        await billing.service.start_yookassa_checkout(user, "pro_month")
    record = (await billing.ledger.for_user(1))[0]
    # Simulate the crash variant: the record stayed `creating`.
    await billing.ledger.update(record.id, status=PaymentStatus.CREATING)
    billing.clock.advance(minutes=5)
    report = await billing.jobs.reconcile()
    assert report.outcomes == {"abandoned": 1}
    assert (await billing.ledger.get(record.id)).status is PaymentStatus.CREATE_FAILED


async def test_admin_grant_adds_days(billing):
    await billing.user(5)
    granted = await billing.service.grant(5, "pro_week", 10, by=99)
    assert granted.status is SubscriptionStatus.ACTIVE and granted.provider == "grant"
    assert granted.current_period_end == billing.clock.now + timedelta(days=10)
    more = await billing.service.grant(5, "pro_week", 5, by=99)
    assert more.current_period_end == billing.clock.now + timedelta(days=15)
    assert await billing.entitlements.is_pro(5)
    assert billing.notifier.kinds(5) == ["granted", "granted"]
    transitions = await billing.store.transitions(5)
    assert [t["to"] for t in transitions] == ["active", "active"]


async def test_scheduler_runs_jobs_and_stops(billing):
    user = await billing.user(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    billing.emulator.pay(record.payment_id)
    scheduler = BillingScheduler(billing.jobs, interval_s=0.05, reconcile_interval_s=0.05)
    scheduler.start()
    try:
        for _ in range(100):
            if await billing.entitlements.is_pro(1):
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
    assert not scheduler.running
    assert await billing.entitlements.is_pro(1)
