"""/timezone: shows the zone in use, stores a valid IANA zone, refuses anything else politely."""

from __future__ import annotations

from tests.e2e.bot.conftest import BotHarness


async def test_timezone_is_inferred_then_set_and_bad_input_changes_nothing(
    harness: BotHarness,
) -> None:
    user = harness.user(6101, language_code="ru")
    await harness.onboard(user, language="Русский")
    await user.command("timezone")
    await user.expect("sendMessage", contains="Europe/Moscow")

    await user.command("timezone", "Mars/Olympus_Mons")
    await user.expect("sendMessage", contains="Такого часового пояса я не знаю")
    profile = await harness.db["users"].find_one({"_id": 6101})
    assert (profile.get("settings") or {}).get("timezone") is None

    await user.command("timezone", "Asia/Yekaterinburg")
    await user.expect("sendMessage", contains="Часовой пояс: Asia/Yekaterinburg")
    await user.idle()
    profile = await harness.db["users"].find_one({"_id": 6101})
    assert profile["settings"]["timezone"] == "Asia/Yekaterinburg"
    await user.command("timezone")
    await user.expect("sendMessage", contains="Ваш часовой пояс: Asia/Yekaterinburg")


async def test_onboarding_asks_the_zone_once_and_a_common_zone_is_one_tap(
    harness: BotHarness,
) -> None:
    user = harness.user(6102, language_code="en")
    await harness.onboard(user)
    ask = next(c for c in user.calls() if "Which time zone" in (c.text or ""))
    assert "UTC" in (ask.text or "")  # what holds until they answer: inferred from English
    labels = dict(user.buttons())
    assert labels.get("London · UTC+0") == "tz:Europe/London"
    assert "tz:keep" in labels.values() and "tz:other" in labels.values()
    # The library card came after the question: the chat ends with it.
    assert user.calls()[-1].method == "sendPhoto"

    await user.press("tz:America/New_York")
    await user.expect("editMessageText", contains="Time zone set: America/New_York")
    await user.idle()
    profile = await harness.db["users"].find_one({"_id": 6102})
    assert profile["settings"]["timezone"] == "America/New_York"
    await user.command("timezone")
    await user.expect("sendMessage", contains="Your time zone: America/New_York")


async def test_zone_question_in_russian_keep_other_and_forged_zone(harness: BotHarness) -> None:
    user = harness.user(6103, language_code="ru")
    await harness.onboard(user, language="Русский")
    labels = dict(user.buttons())
    assert labels.get("Москва · UTC+3") == "tz:Europe/Moscow"
    assert labels.get("Екатеринбург · UTC+5") == "tz:Asia/Yekaterinburg"

    await user.press(text="Другой…")
    await user.expect("editMessageText", contains="/timezone Asia/Almaty")
    ask = next(c for c in user.calls() if "Какой у вас часовой пояс" in (c.text or ""))
    message = {
        "message_id": ask.result["message_id"],
        "chat": {"id": user.id, "type": "private"},
        "date": 0,
        "text": "x",
    }
    # The keyboard went with the edit; a tap on "keep" from before still lands well.
    await user.press_raw("tz:keep", message)
    await user.expect("editMessageText", contains="Оставили Europe/Moscow")
    # Forged button data naming no zone: the hint, nothing stored.
    await user.press_raw("tz:Mars/Olympus_Mons", message)
    await user.expect("editMessageText", contains="/timezone Asia/Almaty")
    await user.idle()
    profile = await harness.db["users"].find_one({"_id": 6103})
    assert (profile.get("settings") or {}).get("timezone") is None  # still inferred
