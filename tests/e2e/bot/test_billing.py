"""PRO bought and managed through the bot, end to end: Bot API emulator ↔ aiogram ↔ billing ↔
YooKassa emulator (with its notification to the real webhook), real SecantusDB and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from companion.app import build_app
from companion.billing.factory import BillingComponents
from companion.billing.ledger import Provider
from companion.billing.webhook import setup_billing_routes
from companion.bot.dispatcher import build_dispatcher
from companion.bot.runner import build_fsm_storage
from companion.config import Settings
from companion.domain.models import SubscriptionStatus
from tests.e2e.bot.conftest import BotHarness, make_settings
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import DEFAULT_TOKEN, TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import free_port
from tests.emulators.yookassa import YooKassaEmulator

ADMIN = 4242


@dataclass
class BillingBot:
    bot: BotHarness
    billing: BillingComponents
    yookassa: YooKassaEmulator
    webhook_url: str

    async def subscription(self, user_id: int) -> Any:
        # Through billing's own store: it reads sealed fields with the bot's key.
        return await self.billing.service.subscriptions.get(user_id)


@contextlib.asynccontextmanager
async def billing_bot(
    settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    yookassa: YooKassaEmulator,
) -> AsyncIterator[BillingBot]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    async with build_app(settings, watch_personas=False) as app:
        assert app.redis is not None and app.telegram is not None
        bot, billing = app.telegram, app.billing
        dp = build_dispatcher(app.bot_services(), build_fsm_storage(app.redis, settings.redis))
        web_app = web.Application()
        setup_billing_routes(web_app, billing.crediting, billing.service.settings)
        runner = web.AppRunner(web_app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        polling = asyncio.create_task(
            dp.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False)
        )
        harness = BotHarness(tg, llm, settings, app, bot, dp, app.redis, mongo)
        try:
            yield BillingBot(
                harness,
                billing,
                yookassa,
                f"http://127.0.0.1:{port}{settings.billing.webhook_path}",
            )
        finally:
            with contextlib.suppress(RuntimeError):
                await dp.stop_polling()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(polling, 10)
            await runner.cleanup()
            await mongo.drop_database(settings.mongo.database)
            await mongo.close()
            keys = [k async for k in app.redis.scan_iter(f"{settings.redis.key_prefix}:*")]
            if keys:
                await app.redis.delete(*keys)


@pytest.fixture
async def yookassa() -> AsyncIterator[YooKassaEmulator]:
    async with YooKassaEmulator() as emulator:
        yield emulator


def _settings(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa, **billing: Any):
    settings = make_settings(
        mongo_uri=mongo_uri,
        prefix=redis_prefix,
        llm=llm,
        tg=tg,
        personas_dir=personas_dir,
        admin_ids=[ADMIN],
    )
    settings.billing = settings.billing.model_copy(
        update={
            "yookassa_shop_id": yookassa.shop_id,
            "yookassa_secret_key": SecretStr(yookassa.secret_key),
            "yookassa_api_url": yookassa.base_url,
            "yookassa_allowed_ips": ["127.0.0.2/32"],
            "autopayments": True,
            **billing,
        }
    )
    return settings


@pytest.fixture
async def shop(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa):
    settings = _settings(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa)
    async with billing_bot(settings, tg, llm, mongo_uri, yookassa) as running:
        yield running


@pytest.fixture
async def stars_shop(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa):
    settings = _settings(
        mongo_uri,
        redis_prefix,
        llm,
        tg,
        personas_dir,
        yookassa,
        yookassa_shop_id=None,
        stars_enabled=True,
        # Only a test that starts the scheduler runs it: then often.
        stars_reconcile_interval_s=0.2,
    )
    async with billing_bot(settings, tg, llm, mongo_uri, yookassa) as running:
        yield running


def _url_buttons(user: TelegramUser) -> list[str]:
    urls: list[str] = []
    for message in reversed(user.history()):
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            urls.extend(button["url"] for button in row if "url" in button)
    return urls


async def test_buy_pro_by_card_then_cancel(shop: BillingBot, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    harness = shop.bot
    # Stars are off in this shop: wired for renewals of earlier subscribers, not for sale.
    assert shop.billing.stars is not None and not shop.billing.stars.selling
    user = harness.user(3001)
    await harness.onboard(user)

    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="YooKassa")
    [pay_url] = [u for u in _url_buttons(user) if "/checkout/" in u]
    profile = await harness.db["users"].find_one({"_id": 3001})
    assert profile["offer_accepted_at"] is not None

    payment_id = pay_url.rsplit("/", 1)[1]
    payment = shop.yookassa.pay(payment_id, method_id="pm-e2e")
    status = await shop.yookassa.notify(
        shop.webhook_url, "payment.succeeded", payment, source="127.0.0.2"
    )
    assert status == 200
    await user.expect("sendMessage", contains="PRO is on")
    sub = await shop.subscription(3001)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.auto_renew

    await user.command("subscription")
    await user.expect("sendMessage", contains="Auto-renewal: on")
    await user.press(text="Cancel renewal")
    await user.expect("sendMessage", contains="Renewal is off")
    sub = await shop.subscription(3001)
    assert sub.status is SubscriptionStatus.CANCELLED
    events = {e["name"] async for e in harness.db["events"].find({"user_id": 3001})}
    assert {"paywall_shown", "offer_accepted", "payment_created", "paid", "cancelled"} <= events
    # Neither the bot token nor the shop's secret key ever reaches the logs.
    assert caplog.records
    assert DEFAULT_TOKEN not in caplog.text
    assert shop.yookassa.secret_key not in caplog.text


async def test_partner_needs_18_plus_then_pro(shop: BillingBot) -> None:
    harness = shop.bot
    user = harness.user(3002)
    await harness.onboard(user)
    for _ in range(6):
        pick = [d for _, d in user.buttons() if d.startswith("lib:pick:") and d.endswith(":lily")]
        if pick:
            break
        await user.press(text="▶")
        await user.expect("editMessageMedia")
    await user.press(pick[0])
    await user.expect("sendMessage", contains="adults only")
    await user.press(text="I am 18 or older")
    await user.expect("sendMessage", contains="available with PRO")
    profile = await harness.db["users"].find_one({"_id": 3002})
    assert profile["adult_confirmed_at"] is not None
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    assert any("PRO for a week" in text for text, _ in user.buttons())


async def test_yookassa_down_tells_the_user_to_try_again(shop: BillingBot) -> None:
    harness = shop.bot
    user = harness.user(3003)
    await harness.onboard(user)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a week")
    await user.expect("sendMessage", contains="public offer")
    shop.yookassa.fail_next(5, 503)
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Nothing was charged")
    assert shop.yookassa.payments == {}
    assert await shop.subscription(3003) is None
    # Through billing's own ledger: it reads sealed fields with the bot's key.
    [record] = await shop.billing.service.ledger.for_user(3003)
    assert record.status.value == "create_failed"


async def test_admin_grant_and_refund_commands(shop: BillingBot) -> None:
    harness = shop.bot
    admin = harness.user(ADMIN)
    await harness.onboard(admin)
    stranger = harness.user(3004)
    await harness.onboard(stranger)
    await stranger.command("grant", f"{stranger.id} pro_month 30")
    await stranger.expect("sendMessage", contains="for administrators")
    assert await shop.subscription(3004) is None

    await admin.command("grant", "3004 pro_month 30")
    await admin.expect("sendMessage", contains="PRO granted to 3004")
    await stranger.expect("sendMessage", contains="You were given PRO")
    assert (await shop.subscription(3004)).status is SubscriptionStatus.ACTIVE
    await admin.command("grant", "3004 gold 30")
    await admin.expect("sendMessage", contains="no longer available")
    await admin.command("refund", "3004")
    await admin.expect("sendMessage", contains="Nothing to refund")


def _stars_paid(payload: str, charge_id: str, *, days: int = 30, first: bool = True) -> dict:
    """A `successful_payment` for the monthly Stars subscription, as Telegram sends it: the
    first payment, or (first=False) a renewal; the period ends in `days` days."""
    return {
        "currency": "XTR",
        "total_amount": 300,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id,
        "provider_payment_charge_id": "",
        "subscription_expiration_date": int(time.time()) + days * 86400,
        "is_recurring": True,
        "is_first_recurring": first,
    }


async def test_stars_purchase_in_telegram(stars_shop: BillingBot) -> None:
    harness = stars_shop.bot
    tg = harness.tg
    user = harness.user(3005)
    await harness.onboard(user)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Telegram Stars")
    [invoice] = [c for c in tg.calls if c.method == "createInvoiceLink"]
    assert invoice.params["currency"] == "XTR"
    assert invoice.params["subscription_period"] == 2592000
    payload = invoice.params["payload"]

    await tg.push_update(
        {
            "pre_checkout_query": {
                "id": "pcq-1",
                "from": user.user,
                "currency": "XTR",
                "total_amount": 300,
                "invoice_payload": payload,
            }
        }
    )
    await tg.push_update(
        {
            "pre_checkout_query": {
                "id": "pcq-2",
                "from": user.user,
                "currency": "XTR",
                "total_amount": 1,
                "invoice_payload": payload,
            }
        }
    )
    deadline = time.monotonic() + 10
    while len(tg.pre_checkout_answers) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert tg.pre_checkout_answers["pcq-1"]["ok"] is True
    assert tg.pre_checkout_answers["pcq-2"]["ok"] is False

    paid = _stars_paid(payload, "stars-charge-1")
    for _ in range(3):  # Telegram may deliver the same update again
        await user.send_message(user._message(successful_payment=paid))
    await user.expect("sendMessage", contains="PRO is on")
    await user.idle()
    assert len([c for c in user.calls("sendMessage") if "PRO is on" in (c.text or "")]) == 1
    sub = await stars_shop.subscription(3005)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.provider == "telegram_stars"

    await user.command("subscription")
    await user.expect("sendMessage", contains="Auto-renewal: on")
    await user.press(text="Cancel renewal")
    await user.expect("sendMessage", contains="Renewal is off")
    [edit] = [c for c in tg.calls if c.method == "editUserStarSubscription"]
    assert edit.params["telegram_payment_charge_id"] == "stars-charge-1"
    assert edit.params["is_canceled"] is True


async def _stars_subscriber(shop: BillingBot, user_id: int, charge_id: str) -> TelegramUser:
    """A user who chatted a little, then bought the monthly Stars subscription."""
    harness = shop.bot
    user = await harness.chatted_user(user_id)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Telegram Stars")
    invoice = [c for c in harness.tg.calls if c.method == "createInvoiceLink"][-1]
    paid = _stars_paid(invoice.params["payload"], charge_id)
    await user.send_message(user._message(successful_payment=paid))
    await user.expect("sendMessage", contains="PRO is on")
    sub = await shop.subscription(user_id)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.auto_renew
    return user


async def test_forget_cancels_the_stars_subscription_before_erasing(
    stars_shop: BillingBot,
) -> None:
    harness = stars_shop.bot
    user = await _stars_subscriber(stars_shop, 3010, "stars-charge-forget")
    stored_when_cancelled: list[dict[str, int]] = []

    async def look(params: dict[str, Any]) -> None:
        stored_when_cancelled.append(await harness.count_user_documents(3010))

    harness.tg.on_call("editUserStarSubscription", look)
    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")

    [edit] = [c for c in harness.tg.calls if c.method == "editUserStarSubscription"]
    assert edit.ok
    assert edit.params["user_id"] == 3010
    assert edit.params["telegram_payment_charge_id"] == "stars-charge-forget"
    assert edit.params["is_canceled"] is True
    # Telegram was told while everything was still stored: erasure came after.
    [stored] = stored_when_cancelled
    assert stored["users"] == 1 and stored["subscriptions"] == 1 and stored["messages"] >= 3
    after = await harness.count_user_documents(3010)
    assert sum(after.values()) == 0, after
    assert await harness.db["payments"].count_documents({"user_id": 3010}) == 0


async def test_forget_erases_nothing_when_stars_renewals_cannot_be_stopped(
    stars_shop: BillingBot, caplog: pytest.LogCaptureFixture
) -> None:
    harness = stars_shop.bot
    user = await _stars_subscriber(stars_shop, 3011, "stars-charge-kept")
    before = await harness.count_user_documents(3011)
    harness.tg.fail_next("editUserStarSubscription", error_code=500)
    caplog.set_level(logging.ERROR, logger="companion.privacy.erasure")

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    answer = await user.expect("editMessageText", contains="couldn't stop your subscription")
    assert "nothing has been erased yet" in (answer.text or "")
    assert "try /forget again in a few minutes" in (answer.text or "")
    assert "Traceback" not in (answer.text or "") and "Internal" not in (answer.text or "")
    [failed] = [c for c in harness.tg.calls if c.method == "editUserStarSubscription"]
    assert not failed.ok and failed.params["user_id"] == 3011

    assert await harness.count_user_documents(3011) == before
    assert before["messages"] >= 3
    sub = await stars_shop.subscription(3011)
    assert sub.status is SubscriptionStatus.ACTIVE and sub.auto_renew
    assert sub.payment_method_id == "stars-charge-kept"
    # Logged for the operator, without the user id (logs outlive an erasure).
    assert any("nothing was erased" in r.getMessage() for r in caplog.records)
    assert not any("3011" in r.getMessage() for r in caplog.records)

    # A few minutes later Telegram answers again: the same request stops renewals and erases.
    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")
    edits = [c for c in harness.tg.calls if c.method == "editUserStarSubscription"]
    assert [c.ok for c in edits] == [False, True]
    assert sum((await harness.count_user_documents(3011)).values()) == 0


async def test_stars_switched_off_still_renews_and_cancels_existing_subscribers(
    stars_shop: BillingBot,
) -> None:
    harness = stars_shop.bot
    user = await _stars_subscriber(stars_shop, 3012, "stars-charge-off")
    payload = [c for c in harness.tg.calls if c.method == "createInvoiceLink"][-1].params["payload"]
    before = await stars_shop.subscription(3012)
    # The operator switches Stars off (billing.stars_enabled=false) after this user subscribed.
    assert stars_shop.billing.stars is not None
    stars_shop.billing.stars.selling = False

    # Nobody is offered Stars any more (and this shop has no card payments either); the
    # subscriber is told they already have a renewing subscription.
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="You already have PRO until")
    newcomer = harness.user(3013)
    await harness.onboard(newcomer)
    await newcomer.command("pro")
    await newcomer.expect("sendMessage", contains="Companion PRO")
    await newcomer.press(text="PRO for a month")
    await newcomer.expect("sendMessage", contains="public offer")
    await newcomer.press(text="I accept the offer")
    await newcomer.expect("sendMessage", contains="Payments are not available right now")

    # Telegram renews the subscription a month later: the renewal is credited.
    renewal = _stars_paid(payload, "stars-charge-off-2", days=60, first=False)
    await user.send_message(user._message(successful_payment=renewal))
    await user.expect("sendMessage", contains="PRO renewed")
    after = await stars_shop.subscription(3012)
    assert after.current_period_end > before.current_period_end
    assert not [c for c in user.calls("sendMessage") if "could not match" in (c.text or "")]

    # And the subscriber can still stop the renewals.
    await user.command("subscription")
    await user.expect("sendMessage", contains="Auto-renewal: on")
    await user.press(text="Cancel renewal")
    await user.expect("sendMessage", contains="Renewal is off")
    [edit] = [c for c in harness.tg.calls if c.method == "editUserStarSubscription"]
    assert edit.params["telegram_payment_charge_id"] == "stars-charge-off"
    assert edit.params["is_canceled"] is True


@pytest.fixture
async def receipt_shop(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa):
    settings = _settings(
        mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa, receipt_required=True
    )
    async with billing_bot(settings, tg, llm, mongo_uri, yookassa) as running:
        yield running


async def test_receipt_contact_is_asked_once(receipt_shop: BillingBot) -> None:
    harness = receipt_shop.bot
    user = harness.user(3006)
    await harness.onboard(user)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a week")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="receipt")
    await user.say("my phone is secret")
    await user.expect("sendMessage", contains="does not look like")
    await user.say("Name@Example.com")
    await user.expect("sendMessage", contains="saved")
    await user.expect("sendMessage", contains="YooKassa")
    body = receipt_shop.yookassa.requests[-1].body
    assert body is not None
    assert body["receipt"]["customer"] == {"email": "name@example.com"}
    profile = await harness.container.users.get(3006)  # the contact is sealed at rest
    assert profile is not None and profile.receipt_contact == "name@example.com"
    # The next purchase does not ask again.
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="YooKassa")
    assert len(receipt_shop.yookassa.payments) == 2


async def test_show_paywall_for_the_chat_router(shop: BillingBot) -> None:
    from companion.bot.localization import I18n
    from companion.bot.routers.billing import show_paywall

    harness = shop.bot
    user = harness.user(3007)
    await harness.onboard(user)
    i18n = I18n(harness.container.translator, "en")
    await show_paywall(harness.bot, user.id, i18n, shop.billing.service.plans, "Lily")
    call = await user.expect("sendMessage", contains="Lily is available with PRO")
    assert "Companion PRO" in (call.text or "")
    assert [text for text, _ in user.buttons()][:2] == [
        "PRO for a week — 149 ₽ / 100 ⭐",
        "PRO for a month — 449 ₽ / 300 ⭐",
    ]


# -- Stars payments are never lost, and never orphaned (issue 13) --------------------------------

MONTH_S = 2592000


async def _stars_invoice(shop: BillingBot, user: TelegramUser) -> str:
    """The user picks the monthly plan and gets a Stars invoice; its payload."""
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Telegram Stars")
    invoice = [c for c in shop.bot.tg.calls if c.method == "createInvoiceLink"][-1]
    return str(invoice.params["payload"])


@pytest.fixture
async def flood_stars_shop(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa):
    settings = _settings(
        mongo_uri,
        redis_prefix,
        llm,
        tg,
        personas_dir,
        yookassa,
        yookassa_shop_id=None,
        stars_enabled=True,
    )
    # Two messages per ten minutes: onboarding and /pro use them up.
    settings.telegram = settings.telegram.model_copy(
        update={"throttle_messages": 2, "throttle_window_s": 600}
    )
    async with billing_bot(settings, tg, llm, mongo_uri, yookassa) as running:
        yield running


async def test_a_user_at_the_flood_limit_still_gets_the_pro_they_paid_for(
    flood_stars_shop: BillingBot,
) -> None:
    harness = flood_stars_shop.bot
    user = harness.user(3020)
    await harness.onboard(user)
    payload = await _stars_invoice(flood_stars_shop, user)
    await user.say("Did it work?")  # typed fast: over the limit
    await user.expect("sendMessage", contains="writing very fast")

    paid = await user.pay_stars(payload, 300, subscription_period=MONTH_S)
    await user.expect("sendMessage", contains="PRO is on")
    sub = await flood_stars_shop.subscription(3020)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.payment_method_id == paid["telegram_payment_charge_id"]


async def test_a_lost_stars_payment_is_credited_from_telegrams_history(
    stars_shop: BillingBot,
) -> None:
    harness = stars_shop.bot
    user = harness.user(3022)
    await harness.onboard(user)
    payload = await _stars_invoice(stars_shop, user)
    # Telegram charges, but the bot never gets the `successful_payment` update.
    paid = harness.tg.charge_stars(user.user, payload, 300, subscription_period=MONTH_S)
    stars_shop.billing.scheduler.start()  # as the bot does at start-up
    await user.expect("sendMessage", contains="PRO is on", timeout=30)
    sub = await stars_shop.subscription(3022)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.payment_method_id == paid["telegram_payment_charge_id"]
    assert any(c.method == "getStarTransactions" for c in harness.tg.calls)
    # The update arrives late after all: nothing is credited twice.
    await user.send_message(user._message(successful_payment=paid))
    await user.idle(0.5)
    assert len([c for c in user.calls("sendMessage") if "PRO is on" in (c.text or "")]) == 1


async def test_an_impossible_expiration_date_still_credits_the_plan_period(
    stars_shop: BillingBot,
) -> None:
    harness = stars_shop.bot
    user = harness.user(3023)
    await harness.onboard(user)
    payload = await _stars_invoice(stars_shop, user)
    paid = _stars_paid(payload, "stars-charge-far")
    paid["subscription_expiration_date"] = 10**15  # no datetime can hold it
    await user.send_message(user._message(successful_payment=paid))
    await user.expect("sendMessage", contains="PRO is on")
    sub = await stars_shop.subscription(3023)
    assert sub.status is SubscriptionStatus.ACTIVE
    days = (sub.current_period_end - stars_shop.billing.service.now()).days
    assert 29 <= days <= 30


@pytest.fixture
async def card_and_stars_shop(mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa):
    settings = _settings(
        mongo_uri, redis_prefix, llm, tg, personas_dir, yookassa, stars_enabled=True
    )
    async with billing_bot(settings, tg, llm, mongo_uri, yookassa) as running:
        yield running


async def test_a_card_subscriber_is_not_sold_a_second_subscription_in_stars(
    card_and_stars_shop: BillingBot,
) -> None:
    shop = card_and_stars_shop
    harness = shop.bot
    user = harness.user(3024, language_code="ru")
    await harness.onboard(user, language="Русский")
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO на месяц")
    await user.expect("sendMessage", contains="оферт")
    await user.press(text="Принимаю")
    await user.expect("sendMessage", contains="Как вы хотите оплатить")
    await user.press(text="Картой")
    await user.expect("sendMessage", contains="ЮKassa")
    [pay_url] = [u for u in _url_buttons(user) if "/checkout/" in u]
    payment = shop.yookassa.pay(pay_url.rsplit("/", 1)[1], method_id="pm-e2e-2")
    assert (
        await shop.yookassa.notify(
            shop.webhook_url, "payment.succeeded", payment, source="127.0.0.2"
        )
        == 200
    )
    await user.expect("sendMessage", contains="PRO включён")
    card = await shop.subscription(3024)
    assert card.auto_renew and card.provider == "yookassa"

    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO на месяц")
    refusal = await user.expect("sendMessage", contains="У вас уже есть PRO до")
    assert card.current_period_end.strftime("%d.%m.%Y") in (refusal.text or "")
    assert "/subscription" in (refusal.text or "")
    assert not [c for c in harness.tg.calls if c.method == "createInvoiceLink"]
    # The method buttons of the first purchase are still in the chat: they obey the same rule.
    payments = len(shop.yookassa.payments)
    await user.press(text="Картой")
    await user.expect("sendMessage", contains="У вас уже есть PRO до")
    await user.press(text="Telegram Stars")
    await user.expect("sendMessage", contains="У вас уже есть PRO до")
    assert len(shop.yookassa.payments) == payments
    assert not [c for c in harness.tg.calls if c.method == "createInvoiceLink"]
    after = await shop.subscription(3024)
    assert after.provider == "yookassa" and after.payment_method_id == card.payment_method_id


async def test_a_stars_renewal_charged_after_forget_is_refunded(stars_shop: BillingBot) -> None:
    harness = stars_shop.bot
    tg = harness.tg
    user = harness.user(3025)
    await harness.onboard(user)
    payload = await _stars_invoice(stars_shop, user)
    paid = await user.pay_stars(payload, 300, subscription_period=MONTH_S)
    await user.expect("sendMessage", contains="PRO is on")
    first = paid["telegram_payment_charge_id"]

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")
    assert tg.star_subscriptions[first]["canceled"] is True  # /forget stopped it

    # Telegram had charged the next month before the cancellation reached it.
    renewal = tg.renew_star_subscription(first, even_if_canceled=True)
    assert renewal is not None
    user.skip()
    await user.send_message(user._message(successful_payment=renewal))
    await user.expect("sendMessage", contains="Your data was erased")
    charge = renewal["telegram_payment_charge_id"]
    assert [t["id"] for t in tg.star_refunds()] == [charge]
    stored = await harness.db["payments"].find_one({"payment_id": charge})
    assert stored is not None and "user_id" not in stored and stored["user_ref"]
    assert stored["refund_ids"] == [f"stars:{charge}"] and stored["closed_reason"] == "erased"
    assert sum((await harness.count_user_documents(3025)).values()) == 0
    # The renewal was not met with the terms (the consent gate lets payments through).
    assert not [c for c in user.calls("sendMessage") if "accept the terms" in (c.text or "")]
    assert len(user.calls("sendMessage")) == 1


async def test_erased_user_paying_the_link_they_still_hold_is_refunded(
    shop: BillingBot, caplog
) -> None:
    """/forget with a YooKassa checkout open, then the old link is paid: YooKassa gets 200, the
    money goes back, and the ledger records it without anything that names the person."""
    harness = shop.bot
    user = harness.user(3020)
    await harness.onboard(user)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="YooKassa")
    [pay_url] = [u for u in _url_buttons(user) if "/checkout/" in u]
    payment_id = pay_url.rsplit("/", 1)[1]

    await user.command("forget")
    await user.expect("sendMessage", contains="erase")
    await user.press(text="Yes, erase everything")
    await user.expect("editMessageText", contains="all your data has been erased")
    assert sum((await harness.count_user_documents(3020)).values()) == 0

    caplog.set_level(logging.INFO, logger="companion")
    payment = shop.yookassa.pay(payment_id)
    status = await shop.yookassa.notify(
        shop.webhook_url, "payment.succeeded", payment, source="127.0.0.2"
    )
    assert status == 200

    [refund] = [r for r in shop.yookassa.refunds.values() if r["payment_id"] == payment_id]
    assert refund["amount"] == {"value": "449.00", "currency": "RUB"}
    row = await harness.db["payments"].find_one({"payment_id": payment_id})
    assert row["status"] == "succeeded" and row["closed_reason"] == "erased"
    assert row["refund_ids"] == [refund["id"]] and row["refunded_amount"] == "449.00"
    assert "user_id" not in row and row["user_ref"] and "granted_at" not in row
    # Nothing about the person was written back, and nobody was told "PRO is on".
    assert sum((await harness.count_user_documents(3020)).values()) == 0
    assert await shop.subscription(3020) is None
    assert not any("PRO is on" in (m.get("text") or "") for m in user.history())
    assert "3020" not in caplog.text
    # YooKassa's refund notification and a redelivery change nothing.
    for event, obj in (("refund.succeeded", refund), ("payment.succeeded", payment)):
        assert await shop.yookassa.notify(shop.webhook_url, event, obj, source="127.0.0.2") == 200
    assert len(shop.yookassa.refunds) == 1


async def test_a_rejected_payment_alerts_the_admin_once(shop: BillingBot) -> None:
    harness = shop.bot
    admin = harness.user(ADMIN)
    await harness.onboard(admin)
    user = harness.user(3021)
    await harness.onboard(user)
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a week")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="YooKassa")
    [pay_url] = [u for u in _url_buttons(user) if "/checkout/" in u]
    payment_id = pay_url.rsplit("/", 1)[1]
    shop.yookassa.payments[payment_id]["amount"]["value"] = "1.00"  # not what we asked for
    payment = shop.yookassa.pay(payment_id)

    for _ in range(2):  # YooKassa redelivers
        status = await shop.yookassa.notify(
            shop.webhook_url, "payment.succeeded", payment, source="127.0.0.2"
        )
        assert status == 200
    alert = await admin.expect("sendMessage", contains="rejected")
    assert payment_id in (alert.text or "") and "amount 1.00 != 149.00" in (alert.text or "")
    await shop.billing.jobs.reconcile()
    alerts = [
        c
        for c in harness.tg.calls
        if c.method == "sendMessage"
        and c.params.get("chat_id") == ADMIN
        and "rejected" in str(c.params.get("text"))
    ]
    assert len(alerts) == 1
    row = await harness.db["payments"].find_one({"payment_id": payment_id})
    assert row["status"] == "rejected"
    assert await shop.subscription(3021) is not None
    assert not (await shop.subscription(3021)).grants_pro(row["updated_at"])


async def test_telegrams_refund_notice_takes_pro_back(stars_shop: BillingBot) -> None:
    harness = stars_shop.bot
    user = harness.user(3026)
    await harness.onboard(user)
    payload = await _stars_invoice(stars_shop, user)
    paid = await user.pay_stars(payload, 300, subscription_period=MONTH_S)
    await user.expect("sendMessage", contains="PRO is on")
    charge = paid["telegram_payment_charge_id"]
    # Support refunded it with another tool; Telegram tells the bot in a service message.
    await harness.bot.refund_star_payment(user_id=3026, telegram_payment_charge_id=charge)
    refunded = {
        "currency": "XTR",
        "total_amount": 300,
        "invoice_payload": payload,
        "telegram_payment_charge_id": charge,
    }
    for _ in range(2):  # delivered twice: counted once
        await user.send_message(user._message(refunded_payment=refunded))
    await user.expect("sendMessage", contains="was refunded; PRO is off")
    await user.idle()
    assert len([c for c in user.calls("sendMessage") if "was refunded" in (c.text or "")]) == 1
    sub = await stars_shop.subscription(3026)
    assert sub.status is SubscriptionStatus.REFUNDED
    record = await stars_shop.billing.service.ledger.by_payment_id(Provider.STARS, charge)
    assert record is not None and record.refund_ids == [f"stars:{charge}"]
