"""Onboarding: language, welcome, consent (nothing stored before it), then the library."""

from __future__ import annotations

from tests.e2e.bot.conftest import BotHarness


async def test_start_language_consent_library(harness: BotHarness) -> None:
    anna = harness.user(1001, language_code="ru", first_name="Anna")
    await anna.command("start")
    choose = await anna.expect("sendMessage")
    assert "Выберите язык" in (choose.text or "")
    await anna.press(text="English")
    await anna.expect("editMessageText", contains="Language: English")
    await anna.expect("sendMessage", contains="I am Companion")
    consent = await anna.expect("sendMessage", contains="terms of use")
    assert harness.settings.telegram.terms_url in str(consent.params["text"])
    assert harness.settings.telegram.privacy_url in str(consent.params["text"])

    # Before accepting, a chat message gets a reminder and reaches neither the model nor the DB.
    await anna.say("Hello, can we talk?")
    await anna.expect("sendMessage", contains="accept the terms")
    await anna.idle()
    assert harness.llm.chat_requests == []
    counts = await harness.count_user_documents(1001)
    assert sum(counts.values()) == 0, counts
    for name in await harness.db.list_collection_names():
        assert await harness.db[name].count_documents({}) == 0, name

    await anna.press(text="✅")
    await anna.expect("sendMessage", contains="Thank you")
    # The time zone is asked once, skippable: the library follows without waiting for it.
    await anna.expect("sendMessage", contains="Which time zone are you in?")
    card = await anna.expect("sendPhoto")
    assert "Anna" in (card.text or "")
    profile = await harness.db["users"].find_one({"_id": 1001})
    assert profile is not None and profile["language"] == "en"
    assert profile["consent_at"] is not None
    events = [e["name"] async for e in harness.db["events"].find({"user_id": 1001})]
    assert {"start", "consent"} <= set(events)


async def test_lang_switches_language_and_is_remembered(harness: BotHarness) -> None:
    user = harness.user(1002, language_code="en")
    await harness.onboard(user)
    await user.command("lang")
    await user.expect("sendMessage", contains="Choose your language")
    await user.press(text="Русский")
    await user.expect("editMessageText", contains="Язык: русский")
    await user.idle()
    assert (await harness.db["users"].find_one({"_id": 1002}))["language"] == "ru"
    await user.command("help")
    await user.expect("sendMessage", contains="выбрать собеседника")


async def test_telegram_language_is_the_default(harness: BotHarness) -> None:
    user = harness.user(1003, language_code="ru")
    await user.command("start")
    await user.expect("sendMessage")
    await user.say("привет")
    await user.expect("sendMessage", contains="примите условия")
