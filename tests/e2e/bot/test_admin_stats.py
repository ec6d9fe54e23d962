"""The Stats section of the owner's console through the Bot API emulator: an admin picks a
report and gets a PNG chart with the numbers in its caption, over 7 or 30 days."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from companion.config import Settings
from tests.e2e.bot.conftest import BotHarness, running_bot, with_telegram
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator

ADMIN = 4200
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
async def console(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> AsyncIterator[BotHarness]:
    # Eleven messages in a row are not a flood here.
    settings = with_telegram(bot_settings, admin_ids=[ADMIN], throttle_messages=50)
    async with running_bot(settings, tg, llm, mongo_uri) as running:
        yield running


async def test_the_admin_gets_a_chart_with_its_numbers(console: BotHarness) -> None:
    # One person: /start, English, accepts, chooses Mark, writes one message.
    await console.chatted_user(4201)

    admin = console.user(ADMIN)
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:stats")
    await admin.expect(("editMessageText", "sendMessage"), contains="Choose a report")

    await admin.press(text="Activity")
    chart = await admin.expect("sendPhoto")
    photo = chart.upload("photo")
    assert photo is not None and photo.data.startswith(PNG_MAGIC)
    caption = chart.text or ""
    assert "Activity" in caption
    assert "New users: 1" in caption
    assert "Messages: 1" in caption
    assert "Voice notes: 0" in caption
    assert "4201" not in caption and "nurse" not in caption  # counts only

    await admin.press(text="30 days")
    longer = await admin.expect("sendPhoto", contains="Activity")
    first, last = (longer.text or "").splitlines()[0].split(" · ")[1].split(" … ")
    assert first < last

    await admin.press(text="« Reports")
    await admin.expect("sendMessage", contains="Choose a report")
    await admin.press(text="Onboarding funnel")
    funnel = await admin.expect("sendPhoto")
    text = funnel.text or ""
    assert "/start (new people): 1" in text
    assert "Language chosen: 1 (100.0%)" in text
    assert "Accepted the terms: 1 (100.0%)" in text
    assert "First message: 1 (100.0%)" in text
    assert "10th message: 0 (0.0%)" in text


async def test_a_forged_period_gets_a_polite_answer(console: BotHarness) -> None:
    admin = console.user(ADMIN)
    await admin.command("admin")
    menu = await admin.expect("sendMessage", contains="Owner's console")
    await admin.press_raw("adms:activity:3650", menu.result)
    await admin.expect("sendMessage", contains="not available")
    await admin.idle()
    assert admin.calls("sendPhoto") == []


async def test_the_tenth_message_is_a_funnel_step(console: BotHarness) -> None:
    person = await console.chatted_user(4202)  # one message to Mark so far
    for n in range(2, 12):
        console.llm.reply = f"Reply {n}."
        await person.say(f"Message {n}")
        await person.expect("sendMessage", contains=f"Reply {n}.")
    events = console.db["events"]
    assert await events.count_documents({"user_id": 4202, "name": "tenth_message"}) == 1
    assert await events.count_documents({"user_id": 4202, "name": "first_message"}) == 1

    admin = console.user(ADMIN)
    await admin.command("admin")
    await admin.expect("sendMessage", contains="Owner's console")
    await admin.press("adm:stats")
    await admin.expect(("editMessageText", "sendMessage"), contains="Choose a report")
    await admin.press(text="Onboarding funnel")
    funnel = await admin.expect("sendPhoto")
    assert "10th message: 1 (100.0%)" in (funnel.text or "")
    await admin.press(text="Activity")
    activity = await admin.expect("sendPhoto")
    assert "Messages: 11" in (activity.text or "")
