"""Voice notes as Telegram wants them (OGG/Opus, 48 kHz mono), from the embedded eSpeak NG
engine through `OfflineSynthesizer`, decoded back with PyAV to check what was written."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from companion.config import TTSSettings
from companion.speech.synthesis import OfflineSynthesizer, offline_synthesizer
from companion.speech.synthesis_audio import decode_pcm, encode_ogg_opus, join, probe
from companion.speech.synthesis_base import Pcm, SynthesisError, SynthesizerBusyError
from companion.speech.synthesis_espeak import EspeakEngine


def tone(seconds: float, rate: int) -> Pcm:
    t = np.arange(int(seconds * rate)) / rate
    return Pcm((np.sin(2 * np.pi * 300 * t) * 9000).astype(np.int16), rate)


@pytest.mark.parametrize("rate", [16_000, 22_050, 24_000, 48_000])
def test_encoding_gives_ogg_opus_48k_mono_of_the_same_length(rate: int) -> None:
    ogg = encode_ogg_opus(tone(1.5, rate))
    assert ogg[:4] == b"OggS"
    info = probe(ogg)
    assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
    assert info.duration_s == pytest.approx(1.5, abs=0.05)


def test_encoded_audio_decodes_back_to_the_signal() -> None:
    original = tone(1.0, 48_000)
    decoded = decode_pcm(encode_ogg_opus(original, bitrate=64_000))
    # Opus is lossy and adds a little delay; the energy of the tone survives.
    rms_in = float(np.sqrt(np.mean(original.samples.astype(np.float64) ** 2)))
    rms_out = float(np.sqrt(np.mean(decoded.samples.astype(np.float64) ** 2)))
    assert rms_out == pytest.approx(rms_in, rel=0.15)


def test_join_puts_a_pause_between_pieces_and_refuses_mixed_rates() -> None:
    joined = join([tone(0.5, 22_050), tone(0.5, 22_050)])
    assert joined.duration_s == pytest.approx(1.25, abs=0.01)
    with pytest.raises(SynthesisError):
        join([tone(0.5, 22_050), tone(0.5, 16_000)])
    with pytest.raises(SynthesisError):
        join([])


def test_empty_or_broken_audio_is_a_synthesis_error() -> None:
    with pytest.raises(SynthesisError):
        encode_ogg_opus(Pcm(np.zeros(0, dtype=np.int16), 22_050))
    with pytest.raises(SynthesisError):
        probe(b"not audio at all")


@pytest.mark.parametrize(
    ("text", "language", "voice"),
    [
        ("Привет! Как прошёл твой день?", "ru", "female-warm"),
        ("Hello! How was your day?", "en", "male-deep"),
    ],
)
def test_espeak_speaks_russian_and_english(text: str, language: str, voice: str) -> None:
    pcm = EspeakEngine().synthesize(text, voice=voice, language=language)
    assert pcm.sample_rate == 22_050
    # Five or six words of speech: between one and five seconds, not silence.
    assert 1.0 < pcm.duration_s < 5.0
    assert int(np.abs(pcm.samples).max()) > 3000


def test_espeak_voices_differ() -> None:
    engine = EspeakEngine()
    female = engine.synthesize("Good morning", voice="female-bright", language="en")
    male = engine.synthesize("Good morning", voice="male-deep", language="en")
    assert not np.array_equal(female.samples[:4000], male.samples[:4000])


async def test_offline_synthesizer_makes_a_voice_note() -> None:
    synthesizer = offline_synthesizer(TTSSettings())
    try:
        note = await synthesizer.synthesize(
            "**Привет!** 🌿 Я так рада тебя слышать. Расскажи, как ты?",
            voice="female-warm",
            language="ru",
        )
        assert note is not None
        info = probe(note.ogg)
        assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
        assert info.duration_s == pytest.approx(note.duration_s, abs=0.1)
        assert 2.0 < note.duration_s < 10.0
        assert note.engine == "espeak-ng" and note.language == "ru"
        assert await synthesizer.synthesize("🙂🙂", voice="female-warm", language="ru") is None
    finally:
        await synthesizer.close()


class GatedEngine:
    """Blocks in `synthesize` until released: shows how many run at once."""

    name = "gated"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def load(self) -> None:
        return None

    def synthesize(self, text: str, *, voice: str, language: str) -> Pcm:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.release.wait(10)
        with self._lock:
            self.running -= 1
        if text.startswith("crash"):
            raise RuntimeError("engine bug")
        return tone(0.3, 22_050)


async def test_concurrency_is_bounded_and_overflow_is_refused_at_once() -> None:
    engine = GatedEngine()
    synthesizer = OfflineSynthesizer(engine, TTSSettings(workers=2, queue_limit=1))
    try:
        tasks = [
            asyncio.create_task(synthesizer.synthesize(f"Hi {n}.", voice="x", language="en"))
            for n in range(3)
        ]
        while synthesizer.admitted < 3:
            await asyncio.sleep(0.01)
        with pytest.raises(SynthesizerBusyError):
            await synthesizer.synthesize("One too many.", voice="x", language="en")
        engine.release.set()
        notes = await asyncio.gather(*tasks)
        assert all(note is not None for note in notes)
        assert engine.most == 2
        with pytest.raises(SynthesisError, match="engine bug"):
            await synthesizer.synthesize("crash now.", voice="x", language="en")
    finally:
        engine.release.set()
        await synthesizer.close()


def test_espeak_is_one_library_shared_safely_by_engines_and_threads() -> None:
    """eSpeak NG has process-wide state: two engines used from many threads at once must speak
    as one engine alone does (initialising it twice corrupted its phoneme data and crashed).
    eSpeak varies its output slightly from run to run, so lengths and loudness are compared."""
    from concurrent.futures import ThreadPoolExecutor

    def rms(samples: np.ndarray) -> float:
        return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))

    texts = [("Привет, как дела?", "ru"), ("Hello, how are you?", "en")] * 6
    alone = {
        text: EspeakEngine().synthesize(text, voice="male-warm", language=lang).samples
        for text, lang in texts[:2]
    }
    engines = [EspeakEngine(), EspeakEngine()]

    def speak(index: int) -> tuple[str, np.ndarray]:
        text, lang = texts[index]
        engine = engines[index % 2]
        return text, engine.synthesize(text, voice="male-warm", language=lang).samples

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(speak, range(len(texts))))
    for text, samples in results:
        assert len(samples) == pytest.approx(len(alone[text]), rel=0.02), text
        assert rms(samples) == pytest.approx(rms(alone[text]), rel=0.1), text
