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
