"""Text to a Telegram voice note: the engines behind the `SpeechSynthesizer` port
(`synthesis_base`, which also has `NoSynthesis` and `build_synthesizer`).

- `OfflineSynthesizer` runs a blocking engine (eSpeak NG by default, `synthesis_espeak`) in a
  small thread pool, so the event loop never waits on synthesis or encoding;
- `OpenAISpeechSynthesizer` (`synthesis_openai`) asks an OpenAI-compatible
  ``POST /v1/audio/speech`` server (production neural TTS);

Every engine takes the reply as the chat shows it; `synthesis_text.prepare` strips markup and
emoji, caps the length and splits it into sentence-sized pieces. At most ``workers`` notes are
synthesised at once and ``queue_limit`` more wait; past that `SynthesizerBusyError` is raised at
once (the text reply has been sent already: the user just gets no voice note this time).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from companion.config import TTSSettings
from companion.speech.synthesis_audio import encode_ogg_opus, join
from companion.speech.synthesis_base import (
    Pcm,
    SynthesisError,
    SynthesisMetrics,
    SynthesizerBusyError,
    VoiceNote,
)
from companion.speech.synthesis_text import prepare

T = TypeVar("T")


class BoundedSynthesizer:
    """Admission (``workers`` running, ``queue_limit`` waiting) and metrics for the engines."""

    enabled = True
    engine_name = "unknown"

    def __init__(self, settings: TTSSettings, metrics: SynthesisMetrics | None = None) -> None:
        if settings.workers < 1:
            raise ValueError("tts.workers must be at least 1")
        self._settings = settings
        self._metrics = metrics
        self._slots = asyncio.Semaphore(settings.workers)
        self._admitted = 0
        self._executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="tts")

    @property
    def admitted(self) -> int:
        return self._admitted

    async def synthesize(self, text: str, *, voice: str, language: str) -> VoiceNote | None:
        pieces = prepare(
            text, max_chars=self._settings.max_chars, max_chunk_chars=self._settings.chunk_chars
        )
        if not pieces:
            return None
        try:
            async with self._admission():
                started = time.perf_counter()
                ogg, duration = await self._render(pieces, voice=voice, language=language)
                elapsed = time.perf_counter() - started
        except SynthesisError as exc:
            self._failed(type(exc).__name__)
            raise
        note = VoiceNote(ogg, duration, elapsed, self.engine_name, language)
        if self._metrics is not None:
            self._metrics.synthesized(note)
        return note

    async def _render(self, pieces: list[str], *, voice: str, language: str) -> tuple[bytes, float]:
        raise NotImplementedError

    @contextlib.asynccontextmanager
    async def _admission(self) -> AsyncIterator[None]:
        if self._admitted >= self._settings.workers + self._settings.queue_limit:
            raise SynthesizerBusyError(f"{self._admitted} voice replies in progress")
        self._admitted += 1
        try:
            async with self._slots:
                yield
        finally:
            self._admitted -= 1

    async def in_thread(self, call: Callable[[], T]) -> T:
        """Run blocking work on this synthesizer's threads; a crash becomes `SynthesisError`."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        try:
            # Shielded: a cancelled reply must not free a slot while its thread still works.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise
        except SynthesisError:
            raise
        except Exception as exc:
            raise SynthesisError(f"synthesis crashed: {type(exc).__name__}: {exc}") from exc

    def _failed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.failed(reason)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


class OfflineEngine(Protocol):
    """A blocking engine (`synthesis_espeak.EspeakEngine`), called from worker threads."""

    name: str

    def load(self) -> None: ...

    def synthesize(self, text: str, *, voice: str, language: str) -> Pcm: ...


class OfflineSynthesizer(BoundedSynthesizer):
    def __init__(
        self,
        engine: OfflineEngine,
        settings: TTSSettings,
        metrics: SynthesisMetrics | None = None,
    ) -> None:
        super().__init__(settings, metrics)
        self._engine = engine
        self.engine_name = engine.name

    async def start(self) -> None:
        """Load the engine in a thread, so the first reply does not pay for it."""
        await self.in_thread(self._engine.load)

    async def _render(self, pieces: list[str], *, voice: str, language: str) -> tuple[bytes, float]:
        def work() -> tuple[bytes, float]:
            pcm = join([self._engine.synthesize(p, voice=voice, language=language) for p in pieces])
            return encode_ogg_opus(pcm, bitrate=self._settings.bitrate), pcm.duration_s

        return await self.in_thread(work)


def offline_synthesizer(
    settings: TTSSettings, metrics: SynthesisMetrics | None = None
) -> OfflineSynthesizer:
    """The embedded default: eSpeak NG (see docs/voice.md for why)."""
    from companion.speech.synthesis_espeak import EspeakEngine

    return OfflineSynthesizer(EspeakEngine(), settings, metrics)
