"""The owner's console (/admin) through the Bot API emulator: who may open it, its menu, the
Users section (lookup, grant, refund) and the developer view (health, persona reload)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path

import pytest

from companion.config import Settings
from companion.domain.models import SubscriptionStatus
from tests.e2e.bot.conftest import BotHarness, running_bot, with_telegram
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import ApiCall

ADMIN = 4100


@pytest.fixture
def admin_settings(bot_settings: Settings) -> Settings:
    return with_telegram(bot_settings, admin_ids=[ADMIN])


@pytest.fixture
async def console(
    admin_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    async with running_bot(admin_settings, tg, llm, mongo_uri) as running:
        yield running


async def test_a_non_admin_gets_the_unknown_command_answer(console: BotHarness) -> None:
    stranger = console.user(4101)
    await console.onboard(stranger)
    await stranger.command("admin")
    await stranger.expect("sendMessage", contains="I don't know that command")
    await stranger.command("admin", "user 4101")
    await stranger.expect("sendMessage", contains="I don't know that command")
    await stranger.idle()
    assert not [c for c in stranger.calls() if "console" in (c.text or "").lower()]
    # An admin button pressed by someone else (forged or forwarded) only stops the spinner.
    await stranger.press_raw("adm:users", stranger.history()[-1])
    await stranger.expect("answerCallbackQuery", contains="no longer works")
    await stranger.idle()
    assert not [c for c in stranger.calls() if "console" in (c.text or "").lower()]


async def test_the_panel_never_opens_in_a_group(console: BotHarness) -> None:
    admin = console.user(ADMIN)
    group = console.tg.register_group(-100777, "Team chat")
    await admin.say_in_group(group, "/admin user 4100")
    await admin.say_in_group(group, "/admin")
    await admin.command("admin")  # after them: by its answer, the group's were handled too
    await admin.expect("sendMessage", contains="Owner's console")
    await asyncio.sleep(0.5)
    assert not [c for c in console.tg.calls_for(-100777) if c.method == "sendMessage"]


async def test_the_admin_opens_the_menu_with_every_section(console: BotHarness) -> None:
    admin = console.user(ADMIN)
    await admin.command("admin")
    call = await admin.expect("sendMessage", contains="Owner's console")
    markup = call.params["reply_markup"]
    data = {b["callback_data"] for row in markup["inline_keyboard"] for b in row}
    assert data == {f"adm:{s}" for s in ("stats", "broadcast", "users", "dev", "mood", "menu")}


@pytest.fixture
async def stars_console(
    admin_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    admin_settings.billing = admin_settings.billing.model_copy(update={"stars_enabled": True})
    async with running_bot(admin_settings, tg, llm, mongo_uri) as running:
        yield running


def _button_data(call: ApiCall) -> set[str]:
    markup = call.params.get("reply_markup") or {}
    return {b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row}


async def test_every_section_opens_for_an_admin_who_never_accepted_the_terms(
    console: BotHarness,
) -> None:
    admin = console.user(ADMIN)  # no /start, no consent
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    for section in ("stats", "broadcast", "users", "dev", "mood", "menu"):
        await admin.press_raw(f"adm:{section}", admin.history()[-1])
        await admin.expect("answerCallbackQuery")
        await admin.idle()
    texts = [str(call.params.get("text", "")) for call in admin.calls()]
    assert not [t for t in texts if "accept the terms" in t], texts


async def _open_users(admin: TelegramUser) -> None:
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:users")
    await admin.expect("editMessageText", contains="Send a user's Telegram id or @username")


async def test_the_admin_finds_a_user_by_id_and_by_username_without_their_messages(
    console: BotHarness,
) -> None:
    anna = TelegramUser(console.tg, 4102, first_name="Anna", username="Anna_K")
    await console.onboard(anna)
    await console.choose(anna, "mark")
    console.llm.reply = "Glad to hear it."
    await anna.say("I work as a nurse in Kazan.")
    await anna.expect("sendMessage", contains="Glad to hear it.")
    admin = console.user(ADMIN)

    await _open_users(admin)
    await admin.say("@anna_k")  # any case, with the "@"
    by_name = await admin.expect("sendMessage", contains="4102")
    await admin.command("admin", "user 4102")
    by_id = await admin.expect("sendMessage", contains="4102")
    for card in (by_name, by_id):
        text = card.text or ""
        assert "@Anna_K Anna" in text
        assert "Language: en · persona: mark" in text
        assert "messages sent: 1" in text
        assert "Plan: free, never subscribed" in text
        assert "Consent ✅ · 18+ ❌ · blocked the bot ❌" in text
        assert "Payments: none" in text
        # Never what was said, by either side.
        assert "nurse" not in text and "Kazan" not in text and "Glad to hear" not in text
        assert "admu:g:4102::" in _button_data(card)
        assert not any(data.startswith("admu:r:") for data in _button_data(card))


async def test_a_bad_or_unknown_query_is_answered_and_chat_ends_the_prompt(
    console: BotHarness,
) -> None:
    admin = console.user(ADMIN)
    await console.onboard(admin)
    await console.choose(admin, "mark")
    await _open_users(admin)
    await admin.say("@who is it")
    await admin.expect("sendMessage", contains="neither a Telegram id nor a @username")
    await admin.say("@nobody_here")
    await admin.expect("sendMessage", contains="No user @nobody_here here")
    await admin.say("999999")
    await admin.expect("sendMessage", contains="No user 999999 here")
    assert console.llm.chat_requests == []  # none of it went to the persona
    # Ordinary chat: the prompt stops waiting and the persona answers, now and after.
    console.llm.reply = "Sure, tell me more."
    await admin.say("Let me just chat now")
    await admin.expect("sendMessage", contains="Sure, tell me more.")
    await admin.say("42 is my favourite number")
    await admin.expect("sendMessage", contains="Sure, tell me more.")
    assert len(console.llm.chat_requests) == 2


async def test_grant_through_the_panel_is_confirmed_and_happens_once(console: BotHarness) -> None:
    user = console.user(4103)
    await console.onboard(user)
    admin = console.user(ADMIN)
    await admin.command("admin", "user 4103")
    await admin.expect("sendMessage", contains="Plan: free")
    await admin.press("admu:g:4103::")
    await admin.expect("editMessageText", contains="choose the plan")
    await admin.press(text="PRO for a month")
    confirm = await admin.expect(
        "editMessageText", contains="Grant PRO for a month (30 days) to 4103?"
    )
    [confirm_data] = [d for d in _button_data(confirm) if d.startswith("admu:gk:")]
    confirm_message = admin.history()[-1]
    await admin.press(confirm_data)
    done = await admin.expect("editMessageText", contains="PRO granted to 4103")
    assert "Plan: PRO pro_month (active)" in (done.text or "")
    await user.expect("sendMessage", contains="You were given PRO")
    sub = await console.container.subscriptions.get(4103)
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    first_end = sub.current_period_end

    # A second tap of the same confirm button (a stale copy of the message) grants nothing more.
    await admin.press_raw(confirm_data, confirm_message)
    # The same screen again ("message is not modified" from Telegram, which the bot shrugs off).
    await admin.expect("editMessageText", contains="PRO granted to 4103", ok=None)
    await user.idle()
    again = await console.container.subscriptions.get(4103)
    assert again is not None and again.current_period_end == first_end
    notices = [c for c in user.calls("sendMessage") if "You were given PRO" in (c.text or "")]
    assert len(notices) == 1


async def test_cancel_on_the_confirmation_grants_nothing(console: BotHarness) -> None:
    user = console.user(4104)
    await console.onboard(user)
    admin = console.user(ADMIN)
    await admin.command("admin", "user 4104")
    await admin.expect("sendMessage", contains="4104")
    await admin.press("admu:g:4104::")
    await admin.expect("editMessageText", contains="choose the plan")
    await admin.press(text="PRO for a week")
    await admin.expect("editMessageText", contains="Grant PRO for a week (7 days)")
    await admin.press(text="Cancel")
    await admin.expect("editMessageText", contains="Plan: free")
    assert await console.container.subscriptions.get(4104) is None


async def _buy_stars_pro(harness: BotHarness, user: TelegramUser) -> str:
    await user.command("pro")
    await user.expect("sendMessage", contains="Companion PRO")
    await user.press(text="PRO for a month")
    await user.expect("sendMessage", contains="public offer")
    await user.press(text="I accept the offer")
    await user.expect("sendMessage", contains="Telegram Stars")
    [invoice] = [c for c in harness.tg.calls if c.method == "createInvoiceLink"]
    paid = await user.pay_stars(
        invoice.params["payload"],
        invoice.params["prices"][0]["amount"],
        subscription_period=invoice.params["subscription_period"],
    )
    await user.expect("sendMessage", contains="PRO is on")
    return str(paid["telegram_payment_charge_id"])


async def test_refund_through_the_panel_returns_the_stars_and_ends_pro(
    stars_console: BotHarness,
) -> None:
    harness = stars_console
    user = harness.user(4105)
    await harness.onboard(user)
    charge_id = await _buy_stars_pro(harness, user)
    admin = harness.user(ADMIN)

    await admin.command("admin", "user 4105")
    card = await admin.expect("sendMessage", contains="Plan: PRO pro_month")
    assert "XTR" in (card.text or "") and "succeeded" in (card.text or "")
    await admin.press("admu:r:4105::")
    await admin.expect("editMessageText", contains="Refund which payment of 4105")
    await admin.press(text="XTR")
    await admin.expect("editMessageText", contains="Refund what is left of payment")
    await admin.press(text="Confirm")
    done = await admin.expect("editMessageText", contains="Refund for")
    assert "refunded" in (done.text or "")
    assert [t["id"] for t in harness.tg.star_refunds()] == [charge_id]
    sub = await harness.container.subscriptions.get(4105)
    assert sub is not None and sub.status is SubscriptionStatus.REFUNDED
    assert "Plan: free" in (done.text or "")
    assert not any(d.startswith("admu:r:") for d in _button_data(done))  # nothing left to refund


async def test_grant_and_refund_commands_still_work_for_the_admin(console: BotHarness) -> None:
    user = console.user(4106)
    await console.onboard(user)
    admin = console.user(ADMIN)
    await console.onboard(admin)
    await admin.command("grant", "4106 pro_week 3")
    await admin.expect("sendMessage", contains="PRO granted to 4106")
    await admin.command("refund", "4106")
    await admin.expect("sendMessage", contains="Nothing to refund")


async def test_developer_view_shows_health_queues_errors_and_version(
    console: BotHarness,
) -> None:
    user = await console.chatted_user(4107)
    console.llm.fail_next(1, status=400)  # the model refuses: the user gets an apology
    await user.say("And now?")
    await user.expect("sendMessage")
    await user.idle()
    admin = console.user(ADMIN)
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:dev")
    view = await admin.expect("editMessageText", contains="Developer")
    text = view.text or ""
    assert f"version {metadata.version('companion')} · up 0 d 0 h" in text
    for dependency in ("database", "redis", "llm"):
        assert f"✅ {dependency} ·" in text, text
    assert "speech · " in text and "off" in text
    assert "updates waiting for a retry (all workers): 0" in text
    # The press that opened this view, held while it is answered (companion/bot/delivery.py).
    assert "updates being answered (all workers): 1" in text
    assert "Personas: 4 loaded, 0 problem(s)" in text
    counts = await console.container.health.errors.counts(3600)  # type: ignore[union-attr]
    # The model's failure, counted where the reply is given up (Metrics), once.
    assert counts == {"reply_failed": 1}
    assert "Errors: 1 in the last hour, 1 in 24 h" in text
    assert "<code>reply_failed</code>: 1 / 1" in (view.raw_text or "")

    await admin.command("admin", "dev")  # the same screen, straight away
    await admin.expect("sendMessage", contains="Errors: 1 in the last hour, 1 in 24 h")


async def test_persona_reload_shows_the_validation_report(
    console: BotHarness, personas_dir: Path
) -> None:
    admin = console.user(ADMIN)
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:dev")
    await admin.expect("editMessageText", contains="Developer")
    (personas_dir / "broken.yaml").write_text("id: broken\nname: [unclosed\n")
    mark = personas_dir / "mark.yaml"
    mark.write_text(mark.read_text().replace('"module": "practice"', '"module": "nope"'))
    await admin.press("admd:reload")
    report = await admin.expect("editMessageText", contains="Persona library reloaded")
    text = report.text or ""
    assert "4 persona(s), 2 problem(s)" in text, text
    assert "broken.yaml" in text and "mark.yaml" in text
    assert console.container.personas.get("mark") is not None  # the last good version serves
