"""The OpenAI-compatible voice-reply client against the emulator's POST /v1/audio/speech."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from companion.config import TTSSettings
from companion.speech.synthesis_audio import probe
from companion.speech.synthesis_base import PrometheusSynthesisMetrics, SynthesisError
from companion.speech.synthesis_openai import OpenAISpeechSynthesizer, server_voice
from tests.emulators.openai_server import OpenAIEmulator

SENTENCE = "Hello! It is so good to hear from you today."


@pytest.fixture
async def emulator() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(api_key="tts-secret") as emu:
        yield emu


def settings_for(emu: OpenAIEmulator, **extra: object) -> TTSSettings:
    values: dict[str, object] = {
        "engine": "openai",
        "base_url": emu.base_url,
        "api_key": SecretStr("tts-secret"),
        "timeout_s": 5,
        "retries": 0,
        **extra,
    }
    return TTSSettings.model_validate(values)


async def test_request_is_openais_and_the_opus_answer_passes_through(
    emulator: OpenAIEmulator,
) -> None:
    synthesizer = OpenAISpeechSynthesizer(settings_for(emulator))
    try:
        note = await synthesizer.synthesize(f"**{SENTENCE}** 🙂", voice="male-deep", language="en")
    finally:
        await synthesizer.close()
    assert note is not None
    [body] = emulator.speech_requests
    assert body == {
        "model": "tts-1",
        "voice": "onyx",
        "input": SENTENCE,
        "response_format": "opus",
    }
    assert emulator.requests[-1].headers["Authorization"] == "Bearer tts-secret"
    info = probe(note.ogg)
    assert info.codec == "opus" and info.channels == 1
    assert note.duration_s == pytest.approx(len(SENTENCE) * 0.06, abs=0.1)
    assert note.engine == "openai"


@pytest.mark.parametrize("forced", ["wav", "flac"])
async def test_an_answer_in_another_format_is_re_encoded(
    emulator: OpenAIEmulator, forced: str
) -> None:
    emulator.speech_format = forced  # a server that ignores response_format
    synthesizer = OpenAISpeechSynthesizer(settings_for(emulator))
    try:
        note = await synthesizer.synthesize(SENTENCE, voice="female-warm", language="en")
    finally:
        await synthesizer.close()
    assert note is not None and note.ogg[:4] == b"OggS"
    info = probe(note.ogg)
    assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
    assert info.duration_s == pytest.approx(len(SENTENCE) * 0.06, abs=0.1)


async def test_long_replies_are_sent_in_pieces_and_joined(emulator: OpenAIEmulator) -> None:
    text = " ".join(f"This is sentence number {n} of a long reply." for n in range(12))
    synthesizer = OpenAISpeechSynthesizer(settings_for(emulator, chunk_chars=120, max_chars=400))
    try:
        note = await synthesizer.synthesize(text, voice="female-calm", language="en")
    finally:
        await synthesizer.close()
    assert note is not None
    pieces = [body["input"] for body in emulator.speech_requests]
    assert len(pieces) >= 3 and all(len(p) <= 120 for p in pieces)
    assert sum(len(p) for p in pieces) <= 400
    expected = sum(len(p) * 0.06 for p in pieces) + 0.25 * (len(pieces) - 1)
    assert probe(note.ogg).duration_s == pytest.approx(expected, abs=0.2)


async def test_retries_a_failing_server_then_succeeds(emulator: OpenAIEmulator) -> None:
    emulator.fail_speech_next(1, status=503)
    synthesizer = OpenAISpeechSynthesizer(settings_for(emulator, retries=2))
    try:
        note = await synthesizer.synthesize(SENTENCE, voice="female-warm", language="en")
    finally:
        await synthesizer.close()
    assert note is not None
    assert len(emulator.speech_requests) == 2


async def test_errors_are_clear_and_counted(emulator: OpenAIEmulator) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    metrics = PrometheusSynthesisMetrics(registry)
    emulator.fail_speech_next(5, status=500)
    synthesizer = OpenAISpeechSynthesizer(settings_for(emulator), metrics)
    unknown_model = OpenAISpeechSynthesizer(settings_for(emulator, model="no-such-tts"), metrics)
    wrong_key = OpenAISpeechSynthesizer(settings_for(emulator, api_key=SecretStr("wrong")), metrics)
    try:
        with pytest.raises(SynthesisError, match="answered 500"):
            await synthesizer.synthesize(SENTENCE, voice="female-warm", language="en")
        emulator.fail_speech_next(0)
        with pytest.raises(SynthesisError, match=r"answered 404.*no-such-tts"):
            await unknown_model.synthesize(SENTENCE, voice="female-warm", language="en")
        with pytest.raises(SynthesisError, match="answered 401"):
            await wrong_key.synthesize(SENTENCE, voice="female-warm", language="en")
    finally:
        for s in (synthesizer, unknown_model, wrong_key):
            await s.close()
    failures = registry.get_sample_value(
        "companion_tts_failures_total", {"reason": "SynthesisError"}
    )
    assert failures == 3


async def test_timeout_and_unreachable_server() -> None:
    async with OpenAIEmulator() as emu:
        emu.speech_delay_s = 2.0
        slow = OpenAISpeechSynthesizer(settings_for(emu, api_key=None, timeout_s=0.3))
        try:
            with pytest.raises(SynthesisError, match="timed out"):
                await slow.synthesize(SENTENCE, voice="female-warm", language="en")
        finally:
            await slow.close()
        base_url = emu.base_url
    gone = OpenAISpeechSynthesizer(TTSSettings(engine="openai", base_url=base_url, retries=0))
    try:
        with pytest.raises(SynthesisError, match="unreachable"):
            await gone.synthesize(SENTENCE, voice="female-warm", language="en")
    finally:
        await gone.close()


def test_server_voice_prefers_the_language_specific_mapping() -> None:
    settings = TTSSettings(voices={"ru/female-warm": "ru-anna", "female-warm": "nova"})
    assert server_voice(settings, "female-warm", "ru") == "ru-anna"
    assert server_voice(settings, "female-warm", "en") == "nova"
    assert server_voice(settings, "male-deep", "en") == "nova"  # unmapped: the default voice


def test_openai_engine_needs_a_base_url() -> None:
    with pytest.raises(ValueError, match="base_url"):
        OpenAISpeechSynthesizer(TTSSettings(engine="openai"))
