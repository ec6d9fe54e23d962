"""Payments the API contradicts are closed once; notifications from IPv4-mapped addresses
(a dual-stack listener) are YooKassa's own (issue 13)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from companion.billing.ledger import PaymentStatus
from companion.billing.webhook import SourceFilter, setup_billing_routes
from companion.domain.models import SubscriptionStatus
from tests.integration.billing.conftest import build_billing


async def _checkout(billing, user_id=1, plan="pro_month"):
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, plan)
    return await billing.ledger.get(checkout.order_id)


async def test_a_rejected_payment_is_closed_alerted_once_and_never_logged_again(billing, caplog):
    record = await _checkout(billing)
    billing.emulator.payments[record.payment_id]["amount"]["value"] = "1.00"
    payment = billing.emulator.pay(record.payment_id)

    caplog.set_level(logging.INFO, logger="companion")
    assert await billing.notify("payment.succeeded", payment) == 200

    closed = await billing.ledger.get(record.id)
    assert closed.status is PaymentStatus.REJECTED
    assert closed.failure_reason == "rejected: amount 1.00 != 449.00"
    assert not await billing.entitlements.is_pro(1)
    assert (await billing.store.get(1)).status is SubscriptionStatus.NONE  # checkout closed
    [alert] = billing.alerts.texts
    assert record.payment_id in alert and "amount 1.00 != 449.00" in alert
    assert (
        billing.metric(
            "companion_billing_payments_closed_total", provider="yookassa", reason="rejected"
        )
        == 1
    )

    # YooKassa redelivers; the job runs every two minutes for days: no new alert, no ERROR.
    caplog.clear()
    assert await billing.notify("payment.succeeded", payment) == 200
    jobs = billing.jobs
    for _ in range(3):
        assert (await jobs.reconcile()).checked == 0
    assert billing.alerts.texts == [alert]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_tampered_metadata_closes_the_payment_for_everyone(billing):
    record = await _checkout(billing)
    await billing.user(2)
    billing.emulator.payments[record.payment_id]["metadata"]["user_id"] = "2"
    payment = billing.emulator.pay(record.payment_id)
    assert await billing.notify("payment.succeeded", payment) == 200
    closed = await billing.ledger.get(record.id)
    assert closed.status is PaymentStatus.REJECTED
    assert closed.failure_reason == "rejected: metadata user_id does not match"
    assert len(billing.alerts.texts) == 1
    assert not await billing.entitlements.is_pro(1)
    assert not await billing.entitlements.is_pro(2)


@pytest.mark.parametrize(
    ("peer", "forwarded", "allowed"),
    [
        ("::ffff:127.0.0.2", None, True),
        ("::ffff:127.0.0.3", None, False),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.2", True),  # a mapped proxy, a mapped client
        ("127.0.0.1", "::ffff:127.0.0.2", True),
        ("::ffff:127.0.0.1", "::ffff:127.0.0.3", False),
        ("::ffff:127.0.0.1", "127.0.0.2, ::ffff:127.0.0.3", False),  # no smuggling either
    ],
)
def test_source_filter_normalises_ipv4_mapped_addresses(yookassa, peer, forwarded, allowed):
    from tests.integration.billing.conftest import billing_settings

    settings = billing_settings(
        yookassa, trust_forwarded_for=True, trusted_proxies=["127.0.0.1/32"]
    )
    sources = SourceFilter(settings)
    assert sources.allowed(sources.client_address(peer, forwarded)) is allowed


@pytest.fixture
async def dual_stack(mongo_db, redis_client, redis_prefix, yookassa) -> AsyncIterator:
    """The webhook on a dual-stack socket (`::`, IPV6_V6ONLY off): IPv4 peers arrive mapped."""
    billing = await build_billing(mongo_db, redis_client, redis_prefix, yookassa)
    app = web.Application()
    setup_billing_routes(app, billing.service.crediting, billing.service.settings)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    billing.webhook_url = f"http://127.0.0.1:{sock.getsockname()[1]}{billing.settings.webhook_path}"
    yield billing
    await runner.cleanup()
    await billing.client.close()


async def test_notification_from_an_ipv4_mapped_address_is_accepted(dual_stack, caplog):
    billing = dual_stack
    record = await _checkout(billing)
    payment = billing.emulator.pay(record.payment_id)
    with caplog.at_level(logging.WARNING):
        assert await billing.notify("payment.succeeded", payment, source="127.0.0.3") == 403
    assert "::ffff:127.0.0.3" in caplog.text  # the listener really is dual-stack
    assert not await billing.entitlements.is_pro(1)
    assert await billing.notify("payment.succeeded", payment) == 200  # from 127.0.0.2, mapped
    assert await billing.entitlements.is_pro(1)
