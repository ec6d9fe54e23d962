"""Voice replies end to end, as a user sees them: Bot API emulator → aiogram → the real
services → a sendVoice whose file is a real OGG/Opus note, after the text reply.

The embedded eSpeak NG engine answers by default; the tests of the card's voice and of failures
point ``tts`` at the OpenAI emulator's ``/v1/audio/speech`` instead."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from companion.app import Overrides
from companion.config import Settings, SpeechSettings, TTSSettings
from companion.speech.pool import TranscriptionPool
from companion.speech.synthesis_audio import probe
from companion.speech.transcriber import Transcriber, build_whisper_model
from tests.e2e.bot.conftest import BotHarness, running_bot
from tests.emulators.openai_server import OpenAIEmulator
from tests.emulators.telegram import TelegramBotAPIEmulator, TelegramUser
from tests.emulators.telegram.server import ApiCall

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"
REPLY = "What a lovely walk! Tell me more about the dog."


def is_record_voice(call: ApiCall) -> bool:
    return call.params.get("action") == "record_voice"


def voice_file(call: ApiCall) -> bytes:
    stored = call.upload("voice")
    assert stored is not None, "sendVoice carried no file"
    return stored.data


def assert_voice_note(call: ApiCall, *, min_s: float, max_s: float) -> None:
    info = probe(voice_file(call))
    assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
    assert min_s < info.duration_s < max_s, info.duration_s
    assert abs(int(call.params["duration"]) - info.duration_s) <= 1


async def ready_user(
    harness: BotHarness, user_id: int, *, persona: str = "mark", language: str = "English"
) -> TelegramUser:
    user = harness.user(user_id, language_code="en" if language == "English" else "ru")
    await harness.onboard(user, language)
    await harness.choose(user, persona)
    user.skip()
    return user


def with_tts(settings: Settings, **tts: Any) -> Settings:
    return settings.model_copy(update={"tts": TTSSettings.model_validate(tts)})


@pytest.fixture
def personas_with_voice(personas_dir: Path) -> Path:
    """Mark's card names his voices (the conftest cards name none)."""
    path = personas_dir / "mark.yaml"
    card = json.loads(path.read_text(encoding="utf-8"))
    card["voice"] = {"en": "male-deep", "ru": "male-warm"}
    path.write_text(json.dumps(card, ensure_ascii=False), encoding="utf-8")
    return personas_dir


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SpeechSettings, Any]]:
    settings = SpeechSettings(cache_dir=tmp_path_factory.mktemp("whisper"), workers=1)
    yield settings, build_whisper_model(settings)


@pytest.fixture
async def listening_harness(
    bot_settings: Settings,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
    whisper: tuple[SpeechSettings, Any],
) -> AsyncIterator[BotHarness]:
    settings, model = whisper
    pool = TranscriptionPool(
        Transcriber(settings, model_factory=lambda: model), workers=1, queue_limit=4
    )
    try:
        overrides = Overrides(speech_pool=pool)
        async with running_bot(bot_settings, tg, llm, mongo_uri, overrides=overrides) as harness:
            yield harness
    finally:
        await pool.close()


@pytest.mark.slow
async def test_a_voice_note_is_answered_with_text_then_a_voice_note(
    listening_harness: BotHarness,
) -> None:
    user = await ready_user(listening_harness, 5301)
    listening_harness.llm.reply = REPLY
    await user.send_voice((FIXTURES / "en_voice.ogg").read_bytes(), duration=8)
    text = await user.expect("sendMessage", contains=REPLY, timeout=90)
    await user.expect("sendChatAction", where=is_record_voice)
    voice = await user.expect("sendVoice", timeout=30)
    assert voice.at >= text.at
    assert_voice_note(voice, min_s=1.5, max_s=10.0)


async def test_voice_on_then_text_gets_a_voice_note_and_off_stops_it(
    harness: BotHarness,
) -> None:
    user = await ready_user(harness, 5302, language="Русский")
    harness.llm.reply = "Привет! Я очень рада тебя слышать. Как прошёл твой день?"
    await user.say("Привет")
    await user.expect("sendMessage", contains="рада тебя слышать")
    await user.idle()
    assert not user.calls("sendVoice")  # text in, voice replies off: text only

    await user.command("voice", "on")
    await user.expect("sendMessage", contains="голосовым")
    await user.say("Как дела?")
    await user.expect("sendMessage", contains="рада тебя слышать")
    voice = await user.expect("sendVoice", timeout=30)
    assert_voice_note(voice, min_s=2.0, max_s=12.0)

    await user.command("voice", "off")
    await user.expect("sendMessage", contains="/voice on")
    user.skip()
    await user.say("Пока")
    await user.expect("sendMessage", contains="рада тебя слышать")
    await user.idle()
    assert not user.calls("sendVoice")


async def test_voice_command_without_a_choice_explains_itself(harness: BotHarness) -> None:
    user = await ready_user(harness, 5303)
    await user.command("voice", "maybe")
    usage = await user.expect("sendMessage", contains="/voice on")
    assert usage.text is not None and "off now" in usage.text
    await user.command("voice")
    await user.expect("sendMessage", contains="/voice off")
    stored = await harness.container.users.get(5303)
    assert stored is not None and stored.settings.voice_replies is False


async def test_the_cards_voice_goes_to_the_tts_server(
    bot_settings: Settings,
    personas_with_voice: Path,
    tg: TelegramBotAPIEmulator,
    llm: OpenAIEmulator,
    mongo_uri: str,
) -> None:
    settings = with_tts(bot_settings, engine="openai", base_url=llm.base_url, retries=0)
    async with running_bot(settings, tg, llm, mongo_uri) as harness:
        user = await ready_user(harness, 5304)
        await user.command("voice", "on")
        await user.expect("sendMessage", contains="voice note")
        harness.llm.reply = "**Sure!** Let's practise. 🙂 How was your weekend?"
        await user.say("Let's practise")
        await user.expect("sendMessage", contains="practise")
        voice = await user.expect("sendVoice", timeout=30)
        assert_voice_note(voice, min_s=1.0, max_s=10.0)
        [request] = llm.speech_requests
        assert request["voice"] == "onyx"  # male-deep, the card's English voice
        assert request["response_format"] == "opus"
        assert request["input"] == "Sure! Let's practise. How was your weekend?"


async def test_a_failed_synthesis_still_delivers_the_text(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    settings = with_tts(bot_settings, engine="openai", base_url=llm.base_url, retries=0)
    async with running_bot(settings, tg, llm, mongo_uri) as harness:
        user = await ready_user(harness, 5305)
        await user.command("voice", "on")
        await user.expect("sendMessage", contains="voice note")
        llm.fail_speech_next(1, status=500)
        harness.llm.reply = "Still here for you."
        await user.say("Hello?")
        await user.expect("sendMessage", contains="Still here for you.")
        await user.idle()
        assert not user.calls("sendVoice")
        failures = harness.container.metrics.registry.get_sample_value(
            "companion_tts_failures_total", {"reason": "SynthesisError"}
        )
        assert failures == 1

        # Telegram refusing the upload is no worse; the next reply gets its voice note again.
        tg.fail_next("sendVoice", error_code=500)
        await user.say("Are you there?")
        await user.expect("sendMessage", contains="Still here for you.")
        await user.expect("sendVoice", ok=False, timeout=30)
        await user.say("And now?")
        await user.expect("sendMessage", contains="Still here for you.")
        await user.expect("sendVoice", timeout=30)


async def test_with_voice_replies_off_the_command_says_so(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    async with running_bot(with_tts(bot_settings, engine="off"), tg, llm, mongo_uri) as harness:
        user = await ready_user(harness, 5306)
        await user.command("voice", "on")
        await user.expect("sendMessage", contains="can't answer with voice notes")
        harness.llm.reply = "Text only."
        await user.say("Hi")
        await user.expect("sendMessage", contains="Text only.")
        await user.idle()
        assert not user.calls("sendVoice")


class CrashingSynthesizer:
    """An engine with a bug (not a `SynthesisError`): the reply must survive it too."""

    enabled = True

    def __init__(self) -> None:
        self.calls = 0

    async def synthesize(self, text: str, *, voice: str, language: str) -> None:
        self.calls += 1
        raise RuntimeError("engine bug")

    async def close(self) -> None:
        return None


async def test_an_engine_bug_is_logged_and_counted_and_the_chat_goes_on(
    bot_settings: Settings, tg: TelegramBotAPIEmulator, llm: OpenAIEmulator, mongo_uri: str
) -> None:
    crashing = CrashingSynthesizer()
    overrides = Overrides(synthesizer=crashing)
    async with running_bot(bot_settings, tg, llm, mongo_uri, overrides=overrides) as harness:
        user = await ready_user(harness, 5307)
        await user.command("voice", "on")
        await user.expect("sendMessage", contains="voice note")
        harness.llm.reply = "Here I am."
        await user.say("Hello")
        await user.expect("sendMessage", contains="Here I am.")
        await user.say("Still there?")
        await user.expect("sendMessage", contains="Here I am.")
        await user.idle()
        assert crashing.calls == 2
        assert not user.calls("sendVoice")
        assert not [c for c in user.calls("sendMessage") if "wrong" in (c.text or "").lower()]
        failures = harness.container.metrics.registry.get_sample_value(
            "companion_tts_failures_total", {"reason": "unexpected"}
        )
        assert failures == 2
