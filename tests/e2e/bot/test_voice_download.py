"""A voice note Telegram would not hand over is reported as a failed download, not as a failed
transcription (Bot API emulator: getFile fails)."""

from __future__ import annotations

from tests.e2e.bot.conftest import BotHarness
from tests.e2e.bot.test_voice import (  # noqa: F401 - fixtures, used by name
    FIXTURES,
    ready_user,
    stored_user_messages,
    voice_harness,
    whisper,
)


async def test_failed_download_is_reported_as_a_download_failure(
    voice_harness: BotHarness,  # noqa: F811 - the imported fixture
) -> None:
    user = await ready_user(voice_harness, 5110)
    requests_before = len(voice_harness.llm.chat_requests)
    voice_harness.tg.fail_next("getFile", error_code=500, times=5)
    await user.send_voice((FIXTURES / "en_voice.ogg").read_bytes(), duration=8)
    reply = await user.expect("sendMessage", contains="couldn't download")
    assert "listening" not in (reply.text or "")  # not the transcription-failure text
    await user.idle()
    assert await stored_user_messages(voice_harness, 5110) == []
    assert len(voice_harness.llm.chat_requests) == requests_before
