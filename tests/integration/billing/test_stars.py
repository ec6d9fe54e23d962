"""Telegram Stars: invoice links, pre-checkout checks, idempotent payments, cancel and refund,
through aiogram against the Bot API emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramServerError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from companion.billing.errors import AlreadySubscribedError, OfferNotAcceptedError
from companion.billing.ledger import PaymentKind, Provider
from companion.billing.service import Outcome
from companion.billing.stars import StarsBilling, StarsPayment, derive_payload_key
from companion.billing.stars_reconcile import StarsReconciler
from companion.bot.routers.billing import AiogramStarsApi
from companion.domain.models import SubscriptionStatus
from companion.storage.crypto import PlaintextCipher
from companion.storage.embedded import EmbeddedMongoServer, free_port
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator
from tests.integration.billing.conftest import build_billing


@pytest.fixture
async def tg() -> AsyncIterator[TelegramBotAPIEmulator]:
    async with TelegramBotAPIEmulator() as emulator:
        yield emulator


@pytest.fixture
async def stars(mongo_db, redis_client, redis_prefix, yookassa, tg):
    billing = await build_billing(mongo_db, redis_client, redis_prefix, yookassa)
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    api = AiogramStarsApi(bot)
    billing.service.attach_stars_api(api)
    stars = StarsBilling(billing.service, api, derive_payload_key("test-secret"))
    yield billing, stars
    await bot.session.close()
    await billing.client.close()


def _payment(payload: str, charge: str, user_id: int = 1, amount: int = 300, **kw):
    return StarsPayment(
        user_id=user_id,
        currency="XTR",
        total_amount=amount,
        invoice_payload=payload,
        telegram_payment_charge_id=charge,
        **kw,
    )


async def test_invoice_link_for_a_month_is_a_stars_subscription(stars, tg):
    billing, service = stars
    user = await billing.user(1)
    link = await service.create_invoice_link(user, "pro_month", "PRO access")
    assert link.startswith("https://t.me/")
    [call] = [c for c in tg.calls if c.method == "createInvoiceLink"]
    assert call.params["currency"] == "XTR"
    assert call.params["subscription_period"] == 2592000
    assert call.params["prices"] == [{"label": "PRO for a month", "amount": 300}]
    assert service.verify(call.params["payload"]).user_id == 1
    week = await service.create_invoice_link(user, "pro_week", "PRO access")
    assert week
    assert (
        "subscription_period"
        not in [c for c in tg.calls if c.method == "createInvoiceLink"][-1].params
    )
    assert (await billing.event_names(1)).count("payment_created") == 2


async def test_invoice_needs_the_offer(stars):
    billing, service = stars
    user = await billing.user(1, offer_accepted_at=None)
    with pytest.raises(OfferNotAcceptedError):
        await service.create_invoice_link(user, "pro_month", "PRO")


async def test_pre_checkout_checks_payload_user_and_price(stars, tg):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    assert await service.answer_pre_checkout("q1", 1, "XTR", 300, payload, "no")
    assert tg.pre_checkout_answers["q1"]["ok"] is True
    refusals = {
        "q2": (2, "XTR", 300, payload),  # someone else's invoice
        "q3": (1, "XTR", 1, payload),  # price changed
        "q4": (1, "XTR", 300, payload[:-1] + ("0" if payload[-1] != "0" else "1")),  # forged
        "q5": (1, "XTR", 300, service.sign("gold", 1)),  # unknown plan
    }
    for query_id, args in refusals.items():
        assert not await service.answer_pre_checkout(query_id, *args, "Sorry")
        assert tg.pre_checkout_answers[query_id]["ok"] is False
        assert tg.pre_checkout_answers[query_id]["error_message"] == "Sorry"


async def test_successful_payment_is_recorded_once(stars):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    expires = billing.clock.now + timedelta(days=30)
    payment = _payment(
        payload,
        "charge-1",
        is_recurring=True,
        is_first_recurring=True,
        subscription_expiration_date=expires,
    )
    outcomes = await asyncio.gather(*(service.record_payment(payment) for _ in range(20)))
    assert outcomes.count(Outcome.CREDITED) == 1
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.provider == "telegram_stars"
    assert sub.current_period_end == expires
    assert sub.auto_renew and sub.payment_method_id == "charge-1"
    record = await billing.ledger.by_payment_id(Provider.STARS, "charge-1")
    assert record.amount == Decimal(300) and record.currency == "XTR"
    assert (await billing.event_names(1)).count("paid") == 1

    # Telegram renews 30 days later: a new charge id, is_recurring, not first.
    renewal = _payment(
        payload,
        "charge-2",
        is_recurring=True,
        subscription_expiration_date=expires + timedelta(days=30),
    )
    assert await service.record_payment(renewal) is Outcome.CREDITED
    sub = await billing.store.get(1)
    assert sub.current_period_end == expires + timedelta(days=30)
    assert sub.payment_method_id == "charge-1"  # the subscription keeps its first charge id
    assert (await billing.ledger.by_payment_id(Provider.STARS, "charge-2")).kind is (
        PaymentKind.RENEWAL
    )
    assert "renewed" in await billing.event_names(1)


async def test_payment_for_someone_elses_payload_grants_nothing(stars):
    billing, service = stars
    await billing.user(1)
    await billing.user(2)
    payload = service.sign("pro_month", 1)
    assert await service.record_payment(_payment(payload, "c-x", user_id=2)) is Outcome.REJECTED
    assert await billing.store.get(2) is None
    assert await service.record_payment(_payment("pro_month:2:ab:00", "c-y", user_id=2)) is (
        Outcome.REJECTED
    )


async def test_one_off_stars_week_does_not_renew(stars):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_week", 1)
    assert await service.record_payment(_payment(payload, "w-1", amount=100)) is Outcome.CREDITED
    sub = await billing.store.get(1)
    assert not sub.auto_renew
    assert sub.current_period_end == billing.clock.now + timedelta(days=7)
    billing.clock.advance(days=7, seconds=1)
    await billing.jobs.expire_due()
    assert (await billing.store.get(1)).status is SubscriptionStatus.EXPIRED


async def test_cancel_calls_edit_user_star_subscription(stars, tg):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    await service.record_payment(
        _payment(payload, "charge-9", is_recurring=True, is_first_recurring=True)
    )
    sub = await billing.service.cancel(1)
    assert sub.status is SubscriptionStatus.CANCELLED
    [call] = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert call.params["user_id"] == 1
    assert call.params["telegram_payment_charge_id"] == "charge-9"
    assert call.params["is_canceled"] is True
    await billing.service.resume(1)
    calls = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert calls[-1].params["is_canceled"] is False


async def test_admin_refund_calls_refund_star_payment(stars, tg):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    await service.record_payment(_payment(payload, "charge-r"))
    assert await billing.service.refund("charge-r") is Outcome.REFUNDED
    [call] = [c for c in tg.calls if c.method == "refundStarPayment"]
    assert call.params == {"user_id": 1, "telegram_payment_charge_id": "charge-r"}
    assert (await billing.store.get(1)).status is SubscriptionStatus.REFUNDED
    assert not await billing.entitlements.is_pro(1)
    assert await billing.service.refund("charge-r") is Outcome.ALREADY_DONE
    assert len([c for c in tg.calls if c.method == "refundStarPayment"]) == 1


async def test_stars_subscription_not_renewed_by_telegram_lapses_then_expires(stars):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    await service.record_payment(
        _payment(payload, "c-l", is_recurring=True, is_first_recurring=True)
    )
    jobs = billing.jobs
    billing.clock.advance(days=30, minutes=1)
    await jobs.expire_due()
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert await billing.entitlements.is_pro(1)
    billing.clock.advance(days=3)
    await jobs.expire_due()
    assert (await billing.store.get(1)).status is SubscriptionStatus.EXPIRED


async def test_pre_checkout_refuses_a_user_who_erased_their_data(stars, tg):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    await billing.users.delete(1)
    assert not await service.answer_pre_checkout("q9", 1, "XTR", 300, payload, "Sorry")
    assert tg.pre_checkout_answers["q9"]["ok"] is False


async def test_card_payment_on_top_of_a_stars_subscription_keeps_it_cancellable(stars, tg):
    billing, service = stars
    user = await billing.user(1)
    payload = service.sign("pro_month", 1)
    await service.record_payment(
        _payment(payload, "charge-s", is_recurring=True, is_first_recurring=True)
    )
    first = await billing.store.get(1)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_week")
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id, method_id="pm-card")
    assert await billing.service.sync_yookassa_payment(payment["id"]) is Outcome.CREDITED
    sub = await billing.store.get(1)
    assert sub.current_period_end == first.current_period_end + timedelta(days=7)
    assert sub.provider == "telegram_stars" and sub.payment_method_id == "charge-s"
    await billing.service.cancel(1)
    [call] = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert call.params["telegram_payment_charge_id"] == "charge-s"


async def test_stop_renewals_before_erasure_cancels_only_what_renews(stars, tg):
    billing, service = stars
    await billing.user(1)
    await billing.user(2)
    assert await billing.service.stop_renewals(1) is False  # no subscription at all
    await service.record_payment(_payment(service.sign("pro_week", 1), "w-9", amount=100))
    assert await billing.service.stop_renewals(1) is False  # one-off week: nothing renews
    assert not [c for c in tg.calls if c.method == "editUserStarSubscription"]

    payload = service.sign("pro_month", 2)
    await service.record_payment(
        _payment(payload, "charge-e", user_id=2, is_recurring=True, is_first_recurring=True)
    )
    tg.fail_next("editUserStarSubscription", error_code=500)
    with pytest.raises(TelegramServerError):
        await billing.service.stop_renewals(2)
    assert (await billing.store.get(2)).auto_renew  # still renewing: do not erase
    assert await billing.service.stop_renewals(2) is True
    assert (await billing.store.get(2)).status is SubscriptionStatus.CANCELLED
    calls = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert [c.ok for c in calls] == [False, True]
    assert calls[-1].params == {
        "user_id": 2,
        "telegram_payment_charge_id": "charge-e",
        "is_canceled": True,
    }


async def test_a_renewal_at_the_price_subscribed_at_is_credited_after_a_price_change(stars):
    # Telegram charges a Stars subscription at the price it was bought at, for its lifetime.
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    expires = billing.clock.now + timedelta(days=30)
    first = _payment(
        payload,
        "sub-1",
        amount=300,
        is_recurring=True,
        is_first_recurring=True,
        subscription_expiration_date=expires,
    )
    assert await service.record_payment(first) is Outcome.CREDITED
    plan = billing.service.plans.get("pro_month")
    plan.price_stars = 350  # the operator raised the price since
    renewal = _payment(
        payload,
        "sub-2",
        amount=300,
        is_recurring=True,
        subscription_expiration_date=expires + timedelta(days=30),
    )
    assert await service.record_payment(renewal) is Outcome.CREDITED
    assert (await billing.store.get(1)).current_period_end == expires + timedelta(days=30)
    # A new purchase at the old price is still refused, at pre-checkout and as a first payment.
    assert not await service.answer_pre_checkout("q-old", 1, "XTR", 300, payload, "Sorry")
    stale_first = _payment(payload, "sub-3", amount=300, is_recurring=True, is_first_recurring=True)
    assert await service.record_payment(stale_first) is Outcome.REJECTED
    # A renewal in another currency or for nothing is not credited.
    bogus = _payment(payload, "sub-4", amount=0, is_recurring=True)
    assert await service.record_payment(bogus) is Outcome.REJECTED


async def test_with_stars_switched_off_subscribers_are_still_renewed_and_can_cancel(stars, tg):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    expires = billing.clock.now + timedelta(days=30)
    await service.record_payment(
        _payment(
            payload,
            "off-1",
            is_recurring=True,
            is_first_recurring=True,
            subscription_expiration_date=expires,
        )
    )
    service.selling = False  # billing.stars_enabled = false after this user subscribed

    # New purchases are refused before any Stars are taken (an invoice link made earlier).
    assert not await service.answer_pre_checkout("q-off", 1, "XTR", 300, payload, "Sorry")
    assert tg.pre_checkout_answers["q-off"]["ok"] is False
    # Telegram still renews the existing subscription: it is credited.
    renewal = _payment(
        payload,
        "off-2",
        is_recurring=True,
        subscription_expiration_date=expires + timedelta(days=30),
    )
    assert await service.record_payment(renewal) is Outcome.CREDITED
    assert (await billing.store.get(1)).current_period_end == expires + timedelta(days=30)
    # And the subscriber can still stop it.
    sub = await billing.service.cancel(1)
    assert sub.status is SubscriptionStatus.CANCELLED
    [call] = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert call.params["telegram_payment_charge_id"] == "off-1"
    assert call.params["is_canceled"] is True


# -- payments Telegram took that the ledger never heard of (getStarTransactions) ---------------


MONTH_S = 2592000


@pytest.fixture
def reconciler(stars):
    billing, service = stars
    return StarsReconciler(
        service,
        service.api,
        billing.ledger,
        max_age=timedelta(hours=72),
        clock=billing.clock,
        metrics=billing.service.metrics,
    )


def _charge(tg, service, user_id: int, plan: str = "pro_month", amount: int = 300, **kw):
    """Telegram takes the Stars for an invoice we issued; the bot hears nothing of it."""
    user = {"id": user_id, "is_bot": False, "first_name": "Payer"}
    return tg.charge_stars(user, service.sign(plan, user_id), amount, **kw)


async def test_reconcile_credits_a_stars_payment_the_ledger_lacks(stars, tg, reconciler):
    billing, service = stars
    await billing.user(1)
    first = _charge(tg, service, 1, subscription_period=MONTH_S)
    report = await reconciler.run()
    assert report.outcomes == {"credited": 1} and report.errors == 0
    sub = await billing.store.get(1)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.auto_renew
    assert sub.payment_method_id == first["telegram_payment_charge_id"]
    record = await billing.ledger.by_payment_id(Provider.STARS, first["telegram_payment_charge_id"])
    assert record.granted_at is not None and record.idempotency_key.startswith("stars:")

    # Telegram renews it a month later and that update is lost too: a renewal of the same
    # subscription, not a second one.
    renewal = tg.renew_star_subscription(first["telegram_payment_charge_id"])
    assert (await reconciler.run()).outcomes == {"credited": 1}
    record = await billing.ledger.by_payment_id(
        Provider.STARS, renewal["telegram_payment_charge_id"]
    )
    assert record.kind is PaymentKind.RENEWAL
    assert record.payment_method_id == first["telegram_payment_charge_id"]
    sub = await billing.store.get(1)
    assert sub.payment_method_id == first["telegram_payment_charge_id"]
    assert not [c for c in tg.calls if c.method == "editUserStarSubscription"]

    # The update arrives after all: nothing changes; another run finds nothing to do.
    assert (
        await service.record_payment(
            _payment(first["invoice_payload"], record.payment_id, is_recurring=True)
        )
        is Outcome.ALREADY_DONE
    )
    again = await reconciler.run()
    assert again.checked == 0 and again.outcomes == {}
    assert (await billing.event_names(1)).count("paid") == 1


async def test_reconcile_pages_through_the_whole_history(stars, tg, reconciler):
    billing, service = stars
    for user_id in range(1, 4):
        await billing.user(user_id)
    for _ in range(120):  # other people's payments, all recorded
        paid = _charge(tg, service, 2, plan="pro_week", amount=100)
        await service.record_payment(
            _payment(paid["invoice_payload"], paid["telegram_payment_charge_id"], 2, 100)
        )
    lost = _charge(tg, service, 3, plan="pro_week", amount=100)  # on the second page
    report = await reconciler.run()
    assert report.outcomes == {"credited": 1}
    pages = [c for c in tg.calls if c.method == "getStarTransactions"]
    assert [c.params.get("offset", 0) for c in pages] == [0, 100]
    assert await billing.ledger.by_payment_id(Provider.STARS, lost["telegram_payment_charge_id"])
    assert (await billing.store.get(3)).status is SubscriptionStatus.ACTIVE


async def test_one_bad_transaction_does_not_stop_the_reconciliation(stars, tg, reconciler):
    billing, service = stars
    await billing.user(1)
    await billing.user(2)
    # A payload for a plan no longer sold (refused and refunded), whose refund fails once.
    gold = _charge(tg, service, 1, plan="gold", amount=500)
    good = _charge(tg, service, 2, plan="pro_week", amount=100)
    tg.fail_next("refundStarPayment", error_code=500)
    report = await reconciler.run()
    assert report.errors == 1 and report.outcomes == {"credited": 1}
    assert billing.metric("companion_billing_job_failures_total", job="stars_reconcile") == 1
    assert (await billing.store.get(2)).status is SubscriptionStatus.ACTIVE
    assert await billing.store.get(1) is None

    # Next run: the refund goes through and is recorded; PRO was never granted for it.
    report = await reconciler.run()
    assert report.errors == 0 and report.outcomes == {"rejected": 1}
    assert [t["id"] for t in tg.star_refunds()] == [gold["telegram_payment_charge_id"]]
    record = await billing.ledger.by_payment_id(Provider.STARS, gold["telegram_payment_charge_id"])
    assert record.fully_refunded and record.granted_at is None and record.closed_at is not None
    assert await billing.store.get(1) is None
    assert (await reconciler.run()).checked == 0
    assert good["telegram_payment_charge_id"] not in {t["id"] for t in tg.star_refunds()}


async def test_reconcile_records_refunds_in_either_order(stars, tg, reconciler):
    billing, service = stars
    await billing.user(1)
    await billing.user(2)
    # User 1's payment was credited; the refund was made elsewhere (another tool, support).
    paid = _charge(tg, service, 1, plan="pro_week", amount=100)
    await service.record_payment(
        _payment(paid["invoice_payload"], paid["telegram_payment_charge_id"], 1, 100)
    )
    assert await billing.entitlements.is_pro(1)
    # User 2's payment was refunded before the bot ever recorded it.
    early = _charge(tg, service, 2, plan="pro_week", amount=100)
    for user_id, charge in ((1, paid), (2, early)):
        await service.api.refund_star_payment(user_id, charge["telegram_payment_charge_id"])
    report = await reconciler.run()
    assert report.errors == 0
    assert (await billing.store.get(1)).status is SubscriptionStatus.REFUNDED
    assert not await billing.entitlements.is_pro(1)
    record = await billing.ledger.by_payment_id(Provider.STARS, early["telegram_payment_charge_id"])
    assert record.fully_refunded and record.granted_at is None
    sub = await billing.store.get(2)
    assert sub is None or not sub.grants_pro(billing.clock.now)
    assert "paid" not in await billing.event_names(2)
    assert (await reconciler.run()).checked == 0


async def test_old_payments_missing_from_the_ledger_are_reported_not_credited(
    stars, tg, reconciler
):
    billing, service = stars
    await billing.user(1)
    _charge(tg, service, 1, plan="pro_week", amount=100)
    billing.clock.advance(hours=73)
    report = await reconciler.run()
    assert report.outcomes == {"too_old": 1}
    assert await billing.store.get(1) is None


async def test_an_impossible_expiration_date_falls_back_to_the_plan_period(stars):
    billing, service = stars
    await billing.user(1)
    payload = service.sign("pro_month", 1)
    far = billing.clock.now + timedelta(days=365 * 50)
    payment = _payment(
        payload,
        "c-far",
        is_recurring=True,
        is_first_recurring=True,
        subscription_expiration_date=far,
    )
    assert await service.record_payment(payment) is Outcome.CREDITED
    sub = await billing.store.get(1)
    assert sub.current_period_end == billing.clock.now + timedelta(days=30)
    past = _payment(
        payload,
        "c-past",
        is_recurring=True,
        subscription_expiration_date=billing.clock.now - timedelta(days=400),
    )
    assert await service.record_payment(past) is Outcome.CREDITED
    assert (await billing.store.get(1)).current_period_end == sub.current_period_end + timedelta(
        days=30
    )


# -- one renewing subscription per user ---------------------------------------------------------


async def _card_subscriber(billing, user_id: int = 1):
    user = await billing.user(user_id)
    checkout = await billing.service.start_yookassa_checkout(user, "pro_month")
    record = await billing.ledger.get(checkout.order_id)
    payment = billing.emulator.pay(record.payment_id, method_id="pm-card")
    assert await billing.service.sync_yookassa_payment(payment["id"]) is Outcome.CREDITED
    sub = await billing.store.get(user_id)
    assert sub.auto_renew and sub.provider == "yookassa"
    return user


async def test_no_stars_subscription_is_sold_next_to_a_renewing_card_one(stars, tg):
    billing, service = stars
    user = await billing.user(1)
    old_link_payload = service.sign("pro_month", 1)  # an invoice made before
    await _card_subscriber(billing)
    with pytest.raises(AlreadySubscribedError) as refused:
        await service.create_invoice_link(user, "pro_month", "PRO")
    assert refused.value.until == (await billing.store.get(1)).current_period_end
    assert not [c for c in tg.calls if c.method == "createInvoiceLink"]
    assert not await service.answer_pre_checkout("q-two", 1, "XTR", 300, old_link_payload, "No")
    assert tg.pre_checkout_answers["q-two"]["ok"] is False
    # A one-off week only extends PRO: nothing renews twice, so it is still sold.
    assert await service.create_invoice_link(user, "pro_week", "PRO")


async def test_a_stars_subscription_that_slipped_through_is_cancelled_at_once(stars, tg):
    billing, service = stars
    await _card_subscriber(billing)
    before = await billing.store.get(1)
    # Both pre-checkouts passed before either payment was recorded: Telegram charged.
    paid = _charge(tg, service, 1, subscription_period=MONTH_S)
    outcome = await service.record_payment(
        _payment(
            paid["invoice_payload"],
            paid["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    assert outcome is Outcome.CREDITED  # the month paid for is given
    sub = await billing.store.get(1)
    assert sub.provider == "yookassa" and sub.auto_renew  # the card keeps renewing
    assert sub.current_period_end > before.current_period_end
    assert tg.star_subscriptions[paid["telegram_payment_charge_id"]]["canceled"] is True
    assert tg.renew_star_subscription(paid["telegram_payment_charge_id"]) is None


async def test_cancel_and_stop_renewals_stop_every_live_stars_subscription(stars, tg):
    billing, service = stars
    await billing.user(1)
    first = _charge(tg, service, 1, subscription_period=MONTH_S)
    await service.record_payment(
        _payment(
            first["invoice_payload"],
            first["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    # A second subscription whose immediate cancellation failed: an orphan in the ledger.
    second = _charge(tg, service, 1, subscription_period=MONTH_S)
    tg.fail_next("editUserStarSubscription", error_code=500)
    await service.record_payment(
        _payment(
            second["invoice_payload"],
            second["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    live = [sid for sid, s in tg.star_subscriptions.items() if not s["canceled"]]
    assert sorted(live) == sorted(
        [first["telegram_payment_charge_id"], second["telegram_payment_charge_id"]]
    )
    await billing.service.cancel(1)
    assert all(s["canceled"] for s in tg.star_subscriptions.values())
    # After the user turned renewal back on for one, /forget stops every one again.
    await billing.service.resume(1)
    assert await billing.service.stop_renewals(1) is True
    assert all(s["canceled"] for s in tg.star_subscriptions.values())


async def test_a_renewal_charged_after_erasure_is_refunded_and_recorded_without_the_user(
    mongo_db, redis_client, redis_prefix, yookassa, tg
):
    billing = await build_billing(mongo_db, redis_client, redis_prefix, yookassa)
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    cipher = PlaintextCipher()
    service = StarsBilling(
        billing.service,
        AiogramStarsApi(bot),
        derive_payload_key("test-secret"),
        pseudonym=cipher.pseudonym,
    )
    billing.service.attach_stars_api(service.api)
    try:
        await billing.user(7)
        first = _charge(tg, service, 7, subscription_period=MONTH_S)
        await service.record_payment(
            _payment(
                first["invoice_payload"],
                first["telegram_payment_charge_id"],
                7,
                is_recurring=True,
                is_first_recurring=True,
            )
        )
        await billing.users.delete(7)  # /forget (its renewal stop did not reach Telegram)
        renewal = tg.renew_star_subscription(first["telegram_payment_charge_id"])
        charge_id = renewal["telegram_payment_charge_id"]
        payment = _payment(
            renewal["invoice_payload"],
            charge_id,
            7,
            is_recurring=True,
            subscription_expiration_date=None,
        )
        assert await service.record_payment(payment) is Outcome.REJECTED
        assert [t["id"] for t in tg.star_refunds()] == [charge_id]
        assert tg.star_subscriptions[first["telegram_payment_charge_id"]]["canceled"] is True
        stored = await mongo_db["payments"].find_one({"payment_id": charge_id})
        assert "user_id" not in stored and stored["user_ref"] == cipher.pseudonym(7)
        assert "idempotency_key" not in stored and "description" not in stored
        assert stored["refund_ids"] == [f"stars:{charge_id}"]
        assert stored["closed_reason"] == "erased"
        assert await billing.users.get(7) is None
        # Delivered again: nothing more is refunded.
        assert await service.record_payment(payment) is Outcome.REJECTED
        assert len(tg.star_refunds()) == 1
    finally:
        await bot.session.close()
        await billing.client.close()


async def test_a_renewal_of_a_stars_subscription_next_to_a_card_one_stops_it(stars, tg):
    billing, service = stars
    await _card_subscriber(billing)
    paid = _charge(tg, service, 1, subscription_period=MONTH_S)
    tg.fail_next("editUserStarSubscription", error_code=500)  # its cancellation got lost
    await service.record_payment(
        _payment(
            paid["invoice_payload"],
            paid["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    first = paid["telegram_payment_charge_id"]
    assert tg.star_subscriptions[first]["canceled"] is False
    renewal = tg.renew_star_subscription(first)
    assert renewal is not None
    outcome = await service.record_payment(
        _payment(
            renewal["invoice_payload"], renewal["telegram_payment_charge_id"], is_recurring=True
        )
    )
    assert outcome is Outcome.CREDITED  # the month Telegram charged is given
    record = await billing.ledger.by_payment_id(
        Provider.STARS, renewal["telegram_payment_charge_id"]
    )
    assert record.payment_method_id == first  # known as that subscription's renewal
    assert tg.star_subscriptions[first]["canceled"] is True
    sub = await billing.store.get(1)
    assert sub.provider == "yookassa" and sub.auto_renew


async def test_a_payment_made_while_the_database_is_down_is_credited_after_it_returns(
    tmp_path, redis_client, redis_prefix, yookassa, tg
):
    """The handler's path raises (so the update is handled again) instead of dropping the
    payment; and even if that update is never seen again, the reconciliation credits it."""
    server = EmbeddedMongoServer(tmp_path / "db", port=free_port())
    await server.astart()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        server.uri, tz_aware=True, serverSelectionTimeoutMS=1500
    )
    bot = Bot(DEFAULT_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
    try:
        billing = await build_billing(client["billing"], redis_client, redis_prefix, yookassa)
        api = AiogramStarsApi(bot)
        billing.service.attach_stars_api(api)
        service = StarsBilling(billing.service, api, derive_payload_key("test-secret"))
        reconciler = StarsReconciler(
            service,
            api,
            billing.ledger,
            max_age=timedelta(hours=72),
            clock=billing.clock,
            metrics=billing.service.metrics,
        )
        await billing.user(1)
        paid = _charge(tg, service, 1, subscription_period=MONTH_S)
        payment = _payment(
            paid["invoice_payload"],
            paid["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
        await server.astop()
        with pytest.raises(PyMongoError):
            await service.record_payment(payment)
        # The reconciliation cannot read the ledger either: it fails, and is run again later.
        with pytest.raises(PyMongoError):
            await reconciler.run()

        await server.astart()  # same port, same data
        report = await reconciler.run()
        assert report.outcomes == {"credited": 1}
        sub = await billing.store.get(1)
        assert sub.status is SubscriptionStatus.ACTIVE
        assert sub.payment_method_id == paid["telegram_payment_charge_id"]
        # The redelivered update then changes nothing.
        assert await service.record_payment(payment) is Outcome.ALREADY_DONE
        assert billing.notifier.kinds(1) == ["activated"]
    finally:
        await bot.session.close()
        await client.close()
        await server.astop()


async def test_a_subscription_telegram_says_is_not_active_does_not_block_erasure(stars, tg):
    billing, service = stars
    await billing.user(1)
    paid = _charge(tg, service, 1, subscription_period=MONTH_S)
    await service.record_payment(
        _payment(
            paid["invoice_payload"],
            paid["telegram_payment_charge_id"],
            is_recurring=True,
            is_first_recurring=True,
        )
    )
    await billing.service.cancel(1)  # renewal off; PRO until the period ends
    # /forget sweeps every subscription still in its paid period; Telegram refuses this one as
    # no longer active (the user may have cancelled it in Telegram too).
    tg.fail_next(
        "editUserStarSubscription", error_code=400, description="Bad Request: SUBSCRIPTION_INVALID"
    )
    assert await billing.service.stop_renewals(1) is False
    # A Telegram outage still stops the erasure: it would be retried.
    tg.fail_next("editUserStarSubscription", error_code=500)
    with pytest.raises(TelegramServerError):
        await billing.service.stop_renewals(1)
