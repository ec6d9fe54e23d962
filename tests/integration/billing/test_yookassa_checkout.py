"""Checkout through YooKassa, the webhook, and every forged or faulty notification."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from companion.billing.errors import (
    ContactRequiredError,
    OfferNotAcceptedError,
    PaymentUnavailableError,
)
from companion.billing.ledger import PaymentStatus, Provider
from companion.billing.service import Outcome
from companion.billing.yookassa import Amount, YooKassaClient
from companion.domain.models import SubscriptionStatus
from companion.storage.embedded import free_port
from tests.integration.billing.conftest import FORGED_SOURCE, build_billing


async def _checkout(billing, user_id=1, plan="pro_month"):
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    record = await billing.ledger.get(checkout.order_id)
    return checkout, record


async def test_checkout_sends_a_redirect_payment_with_metadata_and_key(billing):
    checkout, record = await _checkout(billing)
    request = billing.emulator.requests[-1]
    assert request.path == "/v3/payments"
    assert request.idempotence_key == record.idempotency_key
    body = request.body
    assert body["amount"] == {"value": "449.00", "currency": "RUB"}
    assert body["capture"] is True
    assert body["confirmation"]["type"] == "redirect"
    assert body["save_payment_method"] is True
    assert body["metadata"] == {
        "order_id": checkout.order_id,
        "user_id": "1",
        "plan_id": "pro_month",
        "kind": "initial",
    }
    assert "receipt" not in body
    assert checkout.confirmation_url.endswith(record.payment_id)
    assert record.status is PaymentStatus.PENDING
    sub = await billing.store.get(1)
    assert sub is not None and sub.status is SubscriptionStatus.PENDING
    assert "payment_created" in await billing.event_names(1)
    # Asking again while the link is fresh shows the same link, no second payment.
    again = await billing.service.start_yookassa_checkout(await billing.users.get(1), "pro_month")
    assert again.order_id == checkout.order_id
    assert len(billing.emulator.payments) == 1


async def test_paid_notification_activates_pro(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id, method_id="pm-1")
    assert await billing.notify("payment.succeeded", payment) == 200
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)
    assert sub.auto_renew and sub.payment_method_id == "pm-1" and sub.provider == "yookassa"
    assert await billing.entitlements.is_pro(1)
    stored = await billing.ledger.get(record.id)
    assert stored.status is PaymentStatus.SUCCEEDED and stored.granted_at is not None
    assert (await billing.event_names(1)).count("paid") == 1
    assert billing.notifier.kinds(1) == ["activated"]


async def test_notification_from_a_foreign_address_is_refused(billing, caplog):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    with caplog.at_level(logging.WARNING):
        status = await billing.notify("payment.succeeded", payment, source=FORGED_SOURCE)
    assert status == 403
    assert "127.0.0.3" in caplog.text
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.PENDING
    assert not await billing.entitlements.is_pro(1)


async def test_forwarded_for_is_ignored_unless_trusted(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    # The forger claims to be YooKassa through a header; trust_forwarded_for is off.
    status = await billing.notify(
        "payment.succeeded",
        payment,
        source=FORGED_SOURCE,
        headers={"X-Forwarded-For": "127.0.0.2"},
    )
    assert status == 403
    assert not await billing.entitlements.is_pro(1)


async def test_unknown_payment_is_acknowledged_and_grants_nothing(billing, caplog):
    await billing.user(1)
    fake = {
        "id": "2f000000-000f-5000-a000-000000000000",
        "status": "succeeded",
        "amount": {"value": "449.00", "currency": "RUB"},
        "metadata": {"user_id": "1", "plan_id": "pro_month"},
    }
    with caplog.at_level(logging.WARNING):
        assert await billing.notify("payment.succeeded", fake) == 200
    assert "does not know it" in caplog.text
    assert await billing.store.get(1) is None


async def test_payment_of_another_shop_client_is_not_ours(billing):
    # A real YooKassa payment that is not in our ledger (made by other code with this shop).
    await billing.user(1)
    other = YooKassaClient(billing.settings, retry_delay_s=0)
    foreign = await other.create_payment(
        {
            "amount": {"value": "449.00", "currency": "RUB"},
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": "https://t.me/"},
            "metadata": {"user_id": "1", "plan_id": "pro_month"},
        },
        "foreign-key",
    )
    await other.close()
    paid = billing.emulator.pay(foreign.id)
    assert await billing.notify("payment.succeeded", paid) == 200
    assert await billing.store.get(1) is None


async def test_claimed_success_that_the_api_denies_grants_nothing(billing):
    _, record = await _checkout(billing)
    claimed = dict(billing.emulator.payments[record.payment_id], status="succeeded", paid=True)
    assert await billing.notify("payment.succeeded", claimed) == 200
    assert not await billing.entitlements.is_pro(1)
    assert (await billing.ledger.get(record.id)).status is PaymentStatus.PENDING


@pytest.mark.parametrize(
    ("field", "value"), [("value", "1.00"), ("currency", "USD")], ids=["amount", "currency"]
)
async def test_wrong_amount_or_currency_at_the_api_is_rejected(billing, caplog, field, value):
    _, record = await _checkout(billing)
    billing.emulator.payments[record.payment_id]["amount"][field] = value
    payment = billing.emulator.pay(record.payment_id)
    with caplog.at_level(logging.ERROR):
        assert await billing.notify("payment.succeeded", payment) == 200
    assert "rejected" in caplog.text
    assert not await billing.entitlements.is_pro(1)
    # Closed with its reason, not left pending for the reconciliation job to re-log for days.
    closed = await billing.ledger.get(record.id)
    assert closed.status is PaymentStatus.REJECTED
    assert field.replace("value", "amount") in closed.failure_reason


async def test_tampered_metadata_is_rejected(billing):
    _, record = await _checkout(billing)
    await billing.user(2)
    billing.emulator.payments[record.payment_id]["metadata"]["user_id"] = "2"
    payment = billing.emulator.pay(record.payment_id)
    assert await billing.notify("payment.succeeded", payment) == 200
    assert not await billing.entitlements.is_pro(1)
    assert not await billing.entitlements.is_pro(2)


async def test_hundred_concurrent_duplicates_credit_once(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    statuses = await asyncio.gather(
        *(billing.notify("payment.succeeded", payment) for _ in range(100))
    )
    assert statuses == [200] * 100
    sub = await billing.store.get(1)
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)
    assert (await billing.event_names(1)).count("paid") == 1
    transitions = await billing.store.transitions(1)
    paid = [t for t in transitions if t["_id"].startswith("payment:")]
    assert len(paid) == 1
    assert billing.notifier.kinds(1) == ["activated"]


async def test_canceled_payment_returns_to_no_subscription(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.decline(record.payment_id)
    assert await billing.notify("payment.canceled", payment) == 200
    assert (await billing.store.get(1)).status is SubscriptionStatus.NONE
    assert (await billing.ledger.get(record.id)).status is PaymentStatus.CANCELED
    assert "payment_failed" in await billing.event_names(1)


async def test_offer_must_be_accepted_first(billing):
    user = await billing.user(1, offer_accepted_at=None)
    with pytest.raises(OfferNotAcceptedError):
        await billing.service.start_yookassa_checkout(user, "pro_week")
    assert billing.emulator.payments == {}
    await billing.service.accept_offer(1)
    user = await billing.users.get(1)
    assert user.offer_accepted_at is not None
    assert "offer_accepted" in await billing.event_names(1)
    await billing.service.start_yookassa_checkout(user, "pro_week")


async def test_receipt_needs_a_contact_and_is_sent(mongo_db, redis_client, redis_prefix, yookassa):
    billing = await build_billing(
        mongo_db, redis_client, redis_prefix, yookassa, receipt_required=True
    )
    user = await billing.user(1)
    with pytest.raises(ContactRequiredError):
        await billing.service.start_yookassa_checkout(user, "pro_week")
    assert await billing.service.set_receipt_contact(1, "+7 (900) 123-45-67") == "79001234567"
    stored = await billing.users.get(1)
    assert stored is not None
    await billing.service.start_yookassa_checkout(stored, "pro_week")
    receipt = yookassa.requests[-1].body["receipt"]
    assert receipt["customer"] == {"phone": "79001234567"}
    item = receipt["items"][0]
    assert item["amount"] == {"value": "149.00", "currency": "RUB"}
    assert item["vat_code"] == 1 and item["payment_subject"] == "service"
    await billing.client.close()


async def test_unreachable_yookassa_leaves_nothing_half_created(
    mongo_db, redis_client, redis_prefix, yookassa
):
    billing = await build_billing(
        mongo_db,
        redis_client,
        redis_prefix,
        yookassa,
        yookassa_api_url=f"http://127.0.0.1:{free_port()}/v3",
    )
    user = await billing.user(1)
    with pytest.raises(PaymentUnavailableError):
        await billing.service.start_yookassa_checkout(user, "pro_month")
    records = await billing.ledger.for_user(1)
    assert [r.status for r in records] == [PaymentStatus.CREATE_FAILED]
    assert await billing.store.get(1) is None
    assert "payment_created" not in await billing.event_names(1)
    await billing.client.close()


async def test_yookassa_5xx_is_retried_with_the_same_key(billing):
    billing.emulator.fail_next(1, 500)
    checkout, record = await _checkout(billing)
    keys = [r.idempotence_key for r in billing.emulator.requests if r.path == "/v3/payments"]
    assert keys == [record.idempotency_key]  # the failed attempt never reached the handler
    assert len(billing.emulator.payments) == 1
    assert checkout.confirmation_url


async def test_yookassa_down_for_long_is_a_clear_error(billing):
    billing.emulator.fail_next(5, 503)
    user = await billing.user(1)
    with pytest.raises(PaymentUnavailableError):
        await billing.service.start_yookassa_checkout(user, "pro_month")
    assert billing.emulator.payments == {}
    assert (await billing.ledger.for_user(1))[0].status is PaymentStatus.CREATE_FAILED


async def test_emulator_idempotence_key_semantics(billing):
    body = {
        "amount": {"value": "10.00", "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://t.me/"},
    }
    first = await billing.client.create_payment(body, "same-key")
    second = await billing.client.create_payment(body, "same-key")
    assert first.id == second.id
    from companion.billing.yookassa import YooKassaRequestError

    with pytest.raises(YooKassaRequestError) as info:
        await billing.client.create_payment({**body, "description": "other"}, "same-key")
    assert info.value.code == "invalid_request"


async def test_wrong_credentials_are_a_clear_error_without_the_secret(
    mongo_db, redis_client, redis_prefix, yookassa, caplog
):
    billing = await build_billing(
        mongo_db, redis_client, redis_prefix, yookassa, yookassa_secret_key="wrong_secret_xyz"
    )
    user = await billing.user(1)
    with caplog.at_level(logging.DEBUG), pytest.raises(PaymentUnavailableError) as info:
        await billing.service.start_yookassa_checkout(user, "pro_month")
    assert "invalid_credentials" in str(info.value)
    assert "wrong_secret_xyz" not in caplog.text and "wrong_secret_xyz" not in str(info.value)
    await billing.client.close()


async def test_secrets_never_reach_the_logs(billing, caplog):
    caplog.set_level(logging.DEBUG)
    billing.emulator.fail_next(1, 500)
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    await billing.notify("payment.succeeded", payment)
    await billing.notify("payment.succeeded", payment, source=FORGED_SOURCE)
    await billing.service.refund("1")
    import base64

    secret = billing.emulator.secret_key
    basic = base64.b64encode(f"{billing.emulator.shop_id}:{secret}".encode()).decode()
    text = caplog.text + repr(billing.settings)
    assert caplog.records  # the flow did log
    assert secret not in text and basic not in text


async def test_admin_refund_revokes_pro_and_is_idempotent(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    await billing.notify("payment.succeeded", payment)
    assert await billing.entitlements.is_pro(1)
    assert await billing.service.refund("1") is Outcome.REFUNDED
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.REFUNDED
    assert not await billing.entitlements.is_pro(1)
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("449.00") and stored.refund_id
    refund = billing.emulator.refunds[stored.refund_id]
    # YooKassa also notifies about the refund: a duplicate, nothing more happens.
    assert await billing.notify("refund.succeeded", refund) == 200
    assert (await billing.event_names(1)).count("refunded") == 1
    assert billing.notifier.kinds(1) == ["activated", "refunded"]
    assert await billing.service.refund(record.payment_id) is Outcome.ALREADY_DONE


async def test_refund_made_in_the_dashboard_arrives_by_notification(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    await billing.notify("payment.succeeded", payment)
    real = await _dashboard_refund(billing, record.payment_id, "449.00", "dash-1")
    forged = {
        "id": real["id"],
        "payment_id": "someone-else",
        "status": "succeeded",
        "amount": {"value": "449.00", "currency": "RUB"},
    }
    assert await billing.notify("refund.succeeded", forged) == 200
    assert await billing.entitlements.is_pro(1)
    assert await billing.notify("refund.succeeded", real) == 200
    assert (await billing.store.get(1)).status is SubscriptionStatus.REFUNDED
    assert (await billing.ledger.by_payment_id(Provider.YOOKASSA, record.payment_id)).refund_id


async def test_webhook_answers_500_while_yookassa_cannot_be_asked(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    billing.emulator.fail_next(3, 500)
    assert await billing.notify("payment.succeeded", payment) == 500
    assert not await billing.entitlements.is_pro(1)
    assert await billing.notify("payment.succeeded", payment) == 200  # YooKassa's retry
    assert await billing.entitlements.is_pro(1)


async def test_malformed_notification_is_a_400(billing):
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(billing.webhook_url, data=b"{not json") as response,
    ):
        assert response.status == 400


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(
    mongo_db, redis_client, redis_prefix, yookassa
):
    from aiohttp import web

    from companion.billing.webhook import setup_billing_routes

    billing = await build_billing(
        mongo_db,
        redis_client,
        redis_prefix,
        yookassa,
        trust_forwarded_for=True,
        trusted_proxies=["127.0.0.1/32"],
    )
    app = web.Application()
    setup_billing_routes(app, billing.service.crediting, billing.service.settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}{billing.settings.webhook_path}"
    try:
        user = await billing.user(1)
        checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
        record = await billing.ledger.get(checkout.order_id)
        assert record is not None and record.payment_id is not None
        payment = yookassa.pay(record.payment_id)
        # Through the proxy (peer 127.0.0.1) from a forbidden client: refused.
        assert (
            await yookassa.notify(
                url,
                "payment.succeeded",
                payment,
                source="127.0.0.1",
                headers={"X-Forwarded-For": "127.0.0.3"},
            )
            == 403
        )
        # A client cannot smuggle an allowed address in front of its own.
        assert (
            await yookassa.notify(
                url,
                "payment.succeeded",
                payment,
                source="127.0.0.1",
                headers={"X-Forwarded-For": "127.0.0.2, 127.0.0.3"},
            )
            == 403
        )
        assert not await billing.entitlements.is_pro(1)
        # Through the proxy from YooKassa: accepted.
        assert (
            await yookassa.notify(
                url,
                "payment.succeeded",
                payment,
                source="127.0.0.1",
                headers={"X-Forwarded-For": "127.0.0.2"},
            )
            == 200
        )
        assert await billing.entitlements.is_pro(1)
    finally:
        await runner.cleanup()
        await billing.client.close()


async def test_the_store_refuses_a_transition_the_table_does_not_allow(billing):
    from companion.billing.subscriptions import InvalidTransitionError
    from companion.domain.models import Subscription

    def to_past_due(current, _version):
        return Subscription(user_id=1, plan_id="pro_month", status=SubscriptionStatus.PAST_DUE)

    with pytest.raises(InvalidTransitionError):
        await billing.store.apply(1, "bad:1", "test", to_past_due)
    assert await billing.store.get(1) is None
    assert await billing.store.transitions(1) == []


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


async def test_partial_refunds_add_up_and_revoke_pro_once_the_whole_price_is_back(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    await billing.notify("payment.succeeded", payment)

    # A goodwill refund of part of the price.
    first = await _dashboard_refund(billing, record.payment_id, "149.00", "dash-a")
    assert await billing.notify("refund.succeeded", first) == 200
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("149.00") and stored.refund_ids == [first["id"]]
    assert await billing.entitlements.is_pro(1)  # the period stays paid for

    # The notification comes again: not counted twice.
    assert await billing.notify("refund.succeeded", first) == 200
    assert (await billing.ledger.get(record.id)).refunded_amount == Decimal("149.00")

    # A second partial refund brings the whole price back: PRO is revoked.
    second = await _dashboard_refund(billing, record.payment_id, "300.00", "dash-b")
    assert await billing.notify("refund.succeeded", second) == 200
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("449.00")
    assert stored.refund_ids == [first["id"], second["id"]]
    assert (await billing.store.get(1)).status is SubscriptionStatus.REFUNDED
    assert not await billing.entitlements.is_pro(1)
    # The first refund's notification once more, now late: nothing changes.
    assert await billing.notify("refund.succeeded", first) == 200
    assert (await billing.ledger.get(record.id)).refunded_amount == Decimal("449.00")
    assert (await billing.event_names(1)).count("refunded") == 1


async def test_admin_refund_after_a_partial_one_refunds_what_is_left(billing):
    _, record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    await billing.notify("payment.succeeded", payment)
    partial = await _dashboard_refund(billing, record.payment_id, "100.00", "dash-c")
    await billing.notify("refund.succeeded", partial)
    assert await billing.entitlements.is_pro(1)

    assert await billing.service.refund("1") is Outcome.REFUNDED
    stored = await billing.ledger.get(record.id)
    assert stored.refunded_amount == Decimal("449.00")
    [admin_refund] = [r for r in billing.emulator.refunds.values() if r["id"] != partial["id"]]
    assert admin_refund["amount"] == {"value": "349.00", "currency": "RUB"}
    assert not await billing.entitlements.is_pro(1)
    assert await billing.service.refund("1") is Outcome.ALREADY_DONE
