"""Which Stars subscriptions may still renew, read from ledger records alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from companion.billing.ledger import PaymentKind, PaymentRecord, PaymentStatus, Provider
from companion.billing.stars_subscriptions import live_subscription_ids

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _record(charge: str, subscription: str | None, paid_days_ago: float, **kw: object):
    paid = NOW - timedelta(days=paid_days_ago)
    values: dict[str, object] = {
        "id": charge,
        "provider": Provider.STARS,
        "payment_id": charge,
        "user_id": 1,
        "plan_id": "pro_month",
        "kind": PaymentKind.INITIAL,
        "amount": Decimal(300),
        "currency": "XTR",
        "period_days": 30,
        "status": PaymentStatus.SUCCEEDED,
        "idempotency_key": f"stars:{charge}",
        "payment_method_id": subscription,
        "created_at": paid,
        "paid_at": paid,
    }
    values.update(kw)
    return PaymentRecord.model_validate(values)


def test_a_subscription_is_live_until_a_day_after_its_last_paid_period() -> None:
    records = [
        _record("a1", "a1", 50),  # first month of subscription a...
        _record("a2", "a1", 20, kind=PaymentKind.RENEWAL),  # ...renewed: live for 10 more days
        _record("b1", "b1", 30.5),  # b's month ended half a day ago: Telegram may be renewing
        _record("c1", "c1", 32),  # c ended two days ago: gone
        _record("w1", None, 1, period_days=7),  # a one-off week is no subscription
    ]
    assert live_subscription_ids(records, NOW) == ["a1", "b1"]


def test_telegrams_expiration_date_wins_and_unpaid_records_do_not_count() -> None:
    records = [
        _record("d1", "d1", 40, renews_period_end=NOW + timedelta(days=3)),
        _record("e1", "e1", 1, status=PaymentStatus.REJECTED),
        _record("f1", "f1", 1, provider=Provider.YOOKASSA, payment_method_id="pm-card"),
    ]
    assert live_subscription_ids(records, NOW) == ["d1"]
