"""Billing's money rules, checked through the use cases over in-memory fakes of the ports.

The same rules are checked end to end against MongoDB and the YooKassa emulator in
tests/integration/billing; these run in milliseconds and pin each rule on its own.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from companion.billing.context import Outcome
from companion.billing.errors import (
    NotCancellableError,
    NothingToRefundError,
    PaymentUnavailableError,
)
from companion.billing.jobs import BillingJobs
from companion.billing.records import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.stars import StarsBilling, StarsPayment, derive_payload_key
from companion.domain.models import SubscriptionStatus as S
from tests.unit.billing.conftest import Harness, make_harness


async def _checkout(billing: Harness, plan: str = "pro_month") -> PaymentRecord:
    user = await billing.user(1)
    checkout = await billing.service.checkout.start_yookassa_checkout(user, plan)
    record = await billing.ledger.get(checkout.order_id)
    assert record is not None
    return record


# -- checkout -----------------------------------------------------------------------------------


async def test_checkout_writes_the_ledger_first_with_the_key_it_sends(billing):
    record = await _checkout(billing)
    assert billing.yookassa.calls == [("create_payment", record.id)]
    assert record.idempotency_key == record.id
    assert record.request_body is not None
    assert record.request_body["metadata"] == {
        "order_id": record.id,
        "user_id": "1",
        "plan_id": "pro_month",
        "kind": "initial",
    }
    assert record.request_body["amount"] == {"value": "449.00", "currency": "RUB"}
    assert record.status is PaymentStatus.PENDING and record.payment_id == "pay-1"
    assert (await billing.subscriptions.get(1)).status is S.PENDING
    assert "payment_created" in billing.events.names(1)


async def test_an_open_checkout_link_is_shown_again_not_made_twice(billing):
    first = await _checkout(billing)
    second = await _checkout(billing)
    assert first.id == second.id
    assert len(billing.yookassa.payments) == 1


async def test_yookassa_down_leaves_nothing_half_created(billing):
    billing.yookassa.unavailable = True
    with pytest.raises(PaymentUnavailableError):
        await _checkout(billing)
    (record,) = billing.ledger.records.values()
    assert record.status is PaymentStatus.CREATE_FAILED
    assert await billing.subscriptions.get(1) is None
    assert "payment_created" not in billing.events.names(1)


# -- crediting ----------------------------------------------------------------------------------


async def test_a_payment_is_credited_once_however_often_it_is_heard_of(billing):
    record = await _checkout(billing)
    billing.yookassa.pay("pay-1")
    outcomes = [await billing.service.crediting.sync_yookassa_payment("pay-1") for _ in range(3)]
    assert outcomes == [Outcome.CREDITED, Outcome.ALREADY_DONE, Outcome.ALREADY_DONE]
    sub = await billing.subscriptions.get(1)
    assert sub.status is S.ACTIVE
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)
    assert billing.notifier.kinds(1) == ["activated"]
    assert billing.events.names(1).count("paid") == 1
    assert billing.ledger.records[record.id].granted_at is not None


async def test_a_payment_the_api_contradicts_is_rejected_once_and_alerted_once(billing):
    record = await _checkout(billing)
    billing.yookassa.pay("pay-1")
    billing.yookassa.tamper(
        "pay-1", metadata={**billing.yookassa.payments["pay-1"].metadata, "plan_id": "pro_week"}
    )
    for _ in range(2):
        assert await billing.service.crediting.sync_yookassa_payment("pay-1") is Outcome.REJECTED
    stored = billing.ledger.records[record.id]
    assert stored.status is PaymentStatus.REJECTED and stored.closed_reason == "rejected"
    assert stored.failure_reason == "rejected: metadata plan_id does not match"
    assert len(billing.alerts.texts) == 1
    assert (await billing.subscriptions.get(1)).status is S.NONE
    assert (
        billing.service.metrics.registry.get_sample_value(
            "companion_billing_payments_closed_total",
            {"provider": "yookassa", "reason": "rejected"},
        )
        == 1
    )


async def test_a_payment_refunded_in_full_before_it_is_credited_is_never_credited(billing):
    record = await _checkout(billing)
    billing.yookassa.pay("pay-1")
    billing.yookassa.refund("pay-1", Decimal("449.00"))  # in the dashboard, news lost
    assert await billing.service.crediting.sync_yookassa_payment("pay-1") is Outcome.REFUNDED
    stored = billing.ledger.records[record.id]
    assert stored.closed_reason == "refunded" and stored.granted_at is None
    assert (await billing.subscriptions.get(1)).status is S.PENDING
    assert billing.notifier.kinds(1) == []


async def test_partial_refunds_keep_pro_until_they_add_up_to_the_price(billing):
    await _checkout(billing)
    billing.yookassa.pay("pay-1")
    await billing.service.crediting.sync_yookassa_payment("pay-1")
    first = billing.yookassa.refund("pay-1", Decimal("100.00"))
    assert await billing.service.crediting.sync_yookassa_refund(first.id, "pay-1") is (
        Outcome.REFUNDED
    )
    assert (await billing.subscriptions.get(1)).status is S.ACTIVE
    # A redelivered notification is counted once.
    await billing.service.crediting.sync_yookassa_refund(first.id, "pay-1")
    rest = billing.yookassa.refund("pay-1", Decimal("349.00"))
    await billing.service.crediting.sync_yookassa_refund(rest.id, "pay-1")
    sub = await billing.subscriptions.get(1)
    assert sub.status is S.REFUNDED and not sub.grants_pro(billing.clock.now)
    assert billing.notifier.kinds(1) == ["activated", "refunded"]


async def test_a_payment_of_an_erased_payer_is_refunded_in_full_never_credited(billing):
    record = await _checkout(billing)
    # Erasure keeps the row as accounting fields only, without the payer.
    billing.ledger.records[record.id] = record.model_copy(
        update={"user_id": None, "user_ref": "ref", "idempotency_key": None, "request_body": None}
    )
    await billing.subscriptions.forget(1)
    billing.yookassa.pay("pay-1")
    assert await billing.service.crediting.sync_yookassa_payment("pay-1") is Outcome.REFUNDED
    stored = billing.ledger.records[record.id]
    assert stored.closed_reason == "erased" and stored.refunded_amount == Decimal("449.00")
    assert ("create_refund", f"erased-refund:{record.id}:449.00") in billing.yookassa.calls
    assert await billing.subscriptions.get(1) is None and billing.notifier.sent == []


async def test_no_credit_while_the_payer_is_being_erased(billing):
    record = await _checkout(billing)
    billing.yookassa.pay("pay-1")
    billing.ledger.erasing.add(1)
    assert await billing.service.crediting.sync_yookassa_payment("pay-1") is Outcome.PENDING
    assert (await billing.subscriptions.get(1)).status is S.PENDING
    assert billing.ledger.records[record.id].granted_at is None


async def test_a_canceled_checkout_takes_the_subscription_back_to_none(billing):
    await _checkout(billing)
    billing.yookassa.cancel("pay-1")
    assert await billing.service.crediting.sync_yookassa_payment("pay-1") is Outcome.CANCELED
    assert (await billing.subscriptions.get(1)).status is S.NONE
    assert "payment_failed" in billing.events.names(1)


# -- renewals and jobs ----------------------------------------------------------------------------


async def _paid_with_saved_card(billing: Harness) -> None:
    await _checkout(billing)
    billing.yookassa.pay("pay-1", saved_method="card-1")
    await billing.service.crediting.sync_yookassa_payment("pay-1")


async def test_a_renewal_charges_once_per_period_and_attempt(billing):
    await _paid_with_saved_card(billing)
    sub = await billing.subscriptions.get(1)
    assert sub.auto_renew and sub.payment_method_id == "card-1"
    billing.clock.advance(days=29, hours=1)
    jobs = BillingJobs(billing.service.context, billing.service.renewals, billing.service.crediting)
    assert (await jobs.renew_due()).outcomes == {"credited": 1}
    assert (await jobs.renew_due()).outcomes == {}
    key = f"renew:1:{int(sub.current_period_end.timestamp())}:0"
    assert [call for call in billing.yookassa.calls if call[1] == key] == [("create_payment", key)]
    renewed = await billing.subscriptions.get(1)
    assert renewed.current_period_end == sub.current_period_end + timedelta(days=30)
    assert billing.notifier.kinds(1) == ["activated", "renewed"]


async def test_a_renewing_period_that_ends_unpaid_goes_past_due_then_expires(billing):
    await _paid_with_saved_card(billing)
    billing.service.context.gateway.yookassa = None  # renewals cannot be charged
    jobs = BillingJobs(billing.service.context, billing.service.renewals, billing.service.crediting)
    billing.clock.advance(days=30, minutes=1)
    await jobs.expire_due()
    sub = await billing.subscriptions.get(1)
    assert sub.status is S.PAST_DUE and sub.grants_pro(billing.clock.now)
    billing.clock.advance(days=3)
    await jobs.expire_due()
    assert (await billing.subscriptions.get(1)).status is S.EXPIRED
    assert billing.notifier.kinds(1) == ["activated", "renewal-failed", "expired"]


# -- subscription management --------------------------------------------------------------------


async def test_cancel_keeps_pro_to_the_end_and_resume_turns_renewal_back_on(billing):
    await _paid_with_saved_card(billing)
    management = billing.service.management
    cancelled = await management.cancel(1)
    assert cancelled.status is S.CANCELLED and not cancelled.auto_renew
    view = await management.view(1)
    assert view.has_pro and view.can_resume and not view.can_cancel
    with pytest.raises(NotCancellableError):
        await management.cancel(1)
    resumed = await management.resume(1)
    assert resumed.status is S.ACTIVE and resumed.auto_renew


async def test_stop_renewals_cancels_every_live_stars_subscription_in_the_ledger(billing):
    await billing.user(1)
    for charge in ("charge-a", "charge-b"):
        await billing.ledger.create(
            PaymentRecord(
                id=charge,
                provider=Provider.STARS,
                payment_id=charge,
                user_id=1,
                plan_id="pro_month",
                amount=Decimal(300),
                currency="XTR",
                period_days=30,
                status=PaymentStatus.SUCCEEDED,
                idempotency_key=f"stars:{charge}",
                payment_method_id=charge,
                created_at=billing.clock.now,
                paid_at=billing.clock.now,
            )
        )
    assert await billing.service.management.stop_renewals(1) is True
    assert sorted(billing.stars.cancelled) == [(1, "charge-a", True), (1, "charge-b", True)]


# -- admin ---------------------------------------------------------------------------------------


async def test_admin_refund_asks_for_what_is_left_and_revokes_pro(billing):
    record = await _checkout(billing)
    billing.yookassa.pay("pay-1")
    await billing.service.crediting.sync_yookassa_payment("pay-1")
    billing.yookassa.refund("pay-1", Decimal("49.00"))
    await billing.service.crediting.sync_yookassa_refund("ref-1", "pay-1")
    assert await billing.service.admin.refund("1") is Outcome.REFUNDED
    assert ("create_refund", f"refund:{record.id}:400.00") in billing.yookassa.calls
    assert (await billing.subscriptions.get(1)).status is S.REFUNDED
    assert await billing.service.admin.refund("1") is Outcome.ALREADY_DONE
    with pytest.raises(NothingToRefundError):
        await billing.service.admin.refund("404")


async def test_grant_adds_days_to_a_running_period_and_keeps_its_renewal(billing):
    await _paid_with_saved_card(billing)
    before = await billing.subscriptions.get(1)
    granted = await billing.service.admin.grant(1, "pro_week", 5, by=99)
    assert granted.current_period_end == before.current_period_end + timedelta(days=5)
    assert granted.auto_renew and granted.provider == "yookassa"
    with pytest.raises(ValueError):
        await billing.service.admin.grant(1, "pro_week", 0, by=99)


# -- Telegram Stars -----------------------------------------------------------------------------


async def test_a_stars_payment_is_credited_once_and_a_foreign_payload_refunded():
    billing = make_harness(stars_enabled=True)
    stars = StarsBilling(billing.service, billing.stars, derive_payload_key("k"))
    await billing.user(1)
    payment = StarsPayment(
        user_id=1,
        currency="XTR",
        total_amount=100,
        invoice_payload=stars.sign("pro_week", 1),
        telegram_payment_charge_id="ch-1",
    )
    assert await stars.record_payment(payment) is Outcome.CREDITED
    assert await stars.record_payment(payment) is Outcome.ALREADY_DONE
    assert (await billing.subscriptions.get(1)).current_period_end == (
        billing.clock.now + timedelta(days=7)
    )
    forged = StarsPayment(
        user_id=1,
        currency="XTR",
        total_amount=100,
        invoice_payload=stars.sign("pro_week", 2),  # issued to someone else
        telegram_payment_charge_id="ch-2",
    )
    assert await stars.record_payment(forged) is Outcome.REJECTED
    assert billing.stars.refunded == [(1, "ch-2")]
    record = await billing.ledger.by_payment_id(Provider.STARS, "ch-2")
    assert record.failure_reason == "refused: other_user" and record.kind is PaymentKind.INITIAL
