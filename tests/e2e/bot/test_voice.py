"""Voice notes end to end: Bot API emulator (getFile + download) → voice router → the real
faster-whisper pool (packaged base model) → dialogue service → reply, and the refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from companion.app import Overrides
from companion.config import Settings, SpeechSettings
from companion.domain.models import MessageRole, MessageSource
from companion.speech.pool import TranscriptionPool
from companion.speech.transcriber import Transcriber, build_whisper_model
from tests.e2e.bot.conftest import BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SpeechSettings, Any]]:
    """The model is loaded once for this module; each test gets its own pool around it."""
    settings = SpeechSettings(cache_dir=tmp_path_factory.mktemp("whisper"), workers=2)
    yield settings, build_whisper_model(settings)


@pytest.fixture
async def voice_harness(
    bot_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    whisper: tuple[SpeechSettings, Any],
) -> AsyncIterator[BotHarness]:
    settings, model = whisper
    pool = TranscriptionPool(
        Transcriber(settings, model_factory=lambda: model), workers=2, queue_limit=4
    )
    # The pool around the module's one loaded model replaces the one `companion bot` starts.
    try:
        overrides = Overrides(speech_pool=pool)
        async with running_bot(bot_settings, tg, llm, mongo_uri, overrides=overrides) as harness:
            yield harness
    finally:
        await pool.close()


async def ready_user(harness: BotHarness, user_id: int, language: str = "English") -> TelegramUser:
    user = harness.user(user_id, language_code="en" if language == "English" else "ru")
    await harness.onboard(user, language)
    await harness.choose(user, "mark")
    user.skip()
    return user


async def stored_user_messages(harness: BotHarness, user_id: int) -> list[Any]:
    conversation = await harness.container.conversations.get_active(user_id, "mark")
    if conversation is None:
        return []
    recent = await harness.container.messages.recent(conversation.id, 20)
    return [m for m in recent if m.role is MessageRole.USER]


def last_user_prompt(harness: BotHarness) -> str:
    messages = harness.llm.chat_requests[-1]["messages"]
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


async def test_voice_note_is_transcribed_and_answered(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5101)
    voice_harness.llm.reply = "What a lovely walk!"
    await user.send_voice((FIXTURES / "en_voice.ogg").read_bytes(), duration=8)
    await user.expect("sendChatAction")
    await user.expect("sendMessage", contains="What a lovely walk!", timeout=60)
    assert "park" in last_user_prompt(voice_harness).lower()
    [stored] = await stored_user_messages(voice_harness, 5101)
    assert stored.source is MessageSource.VOICE
    assert "park" in stored.text.lower() and "dog" in stored.text.lower()
    await user.idle()
    assert not [c for c in user.calls("sendMessage") if "🎤" in (c.text or "")]  # echo is off


async def test_echo_shows_the_transcript_first(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5102, language="Русский")
    await user.command("echo")
    await user.expect("sendMessage", contains="расшифровку")
    voice_harness.llm.reply = "Отличная погода!"
    await user.send_voice((FIXTURES / "ru_voice.ogg").read_bytes(), duration=9)
    echo = await user.expect("sendMessage", contains="🎤", timeout=60)
    assert echo.text is not None and "Вы сказали" in echo.text and "парк" in echo.text.lower()
    await user.expect("sendMessage", contains="Отличная погода!")


async def test_several_users_at_once(voice_harness: BotHarness) -> None:
    users = [await ready_user(voice_harness, 5110 + n) for n in range(3)]
    voice_harness.llm.reply = "Got it."
    notes: list[tuple[str, bytes, str, str | None]] = [
        ("voice", (FIXTURES / "en_voice.ogg").read_bytes(), "park", "audio/ogg"),
        ("video_note", (FIXTURES / "ru_video_note.mp4").read_bytes(), "кухн", None),
        ("audio", (FIXTURES / "en_audio.m4a").read_bytes(), "coffee", "audio/mp4"),
    ]
    await asyncio.gather(
        *(
            user.send_file_message(kind, data, mime_type=mime, duration=6, file_name="a.m4a")
            for user, (kind, data, _, mime) in zip(users, notes, strict=True)
        )
    )
    for user in users:
        await user.expect("sendMessage", contains="Got it.", timeout=90)
    for user, (_, _, keyword, _) in zip(users, notes, strict=True):
        [stored] = await stored_user_messages(voice_harness, user.id)
        assert stored.source is MessageSource.VOICE
        assert keyword in stored.text.lower(), stored.text


async def test_audio_document_is_transcribed(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5104)
    voice_harness.llm.reply = "Coffee is great."
    await user.send_document(
        (FIXTURES / "en_audio.m4a").read_bytes(), file_name="memo.m4a", mime_type="audio/mp4"
    )
    await user.expect("sendMessage", contains="Coffee is great.", timeout=60)
    [stored] = await stored_user_messages(voice_harness, 5104)
    assert "coffee" in stored.text.lower()


async def test_broken_file_gets_a_polite_message(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5105)
    requests_before = len(voice_harness.llm.chat_requests)
    await user.send_voice((FIXTURES / "broken.ogg").read_bytes())
    reply = await user.expect("sendMessage", contains="couldn't play this file")
    assert "Traceback" not in (reply.text or "")
    await user.idle()
    assert await stored_user_messages(voice_harness, 5105) == []
    assert len(voice_harness.llm.chat_requests) == requests_before


async def test_too_large_is_refused_before_download(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5106)
    big = b"\0" * (21 * 1024 * 1024)
    await user.send_file_message("audio", big, mime_type="audio/mpeg", file_name="long.mp3")
    await user.expect("sendMessage", contains="20 MB")
    assert [c for c in voice_harness.tg.calls if c.method == "getFile"] == []
    assert await stored_user_messages(voice_harness, 5106) == []


async def test_too_long_by_declared_duration(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5107, language="Русский")
    await user.send_voice((FIXTURES / "en_voice.ogg").read_bytes(), duration=600)
    await user.expect("sendMessage", contains="до 5 минут")
    assert [c for c in voice_harness.tg.calls if c.method == "getFile"] == []


async def test_silence_is_nothing_recognised(voice_harness: BotHarness) -> None:
    user = await ready_user(voice_harness, 5108)
    await user.send_voice((FIXTURES / "silence.ogg").read_bytes(), duration=3)
    await user.expect("sendMessage", contains="couldn't make out any words")
    assert await stored_user_messages(voice_harness, 5108) == []


async def test_without_a_speech_pool_the_user_is_asked_to_type(harness: BotHarness) -> None:
    user = await ready_user(harness, 5109)
    await user.send_voice((FIXTURES / "en_voice.ogg").read_bytes(), duration=8)
    await user.expect("sendMessage", contains="please type your message")
    assert [c for c in harness.tg.calls if c.method == "getFile"] == []
    assert await stored_user_messages(harness, 5109) == []
