"""Speech to text with faster-whisper: one model per process, shared by the worker threads.

The model is built on first use (or by `Transcriber.load`, which the pool runs in a thread at
start-up) so importing this module never loads CTranslate2. CTranslate2 releases the GIL while it
computes, and ``num_workers`` lets that many ``transcribe`` calls run in parallel on one model.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from companion.config import SpeechSettings
from companion.speech.audio import AudioSource, DecodedAudio, check_size, decode
from companion.speech.errors import AudioTooLargeError, AudioTooLongError, NothingRecognisedError
from companion.speech.model import resolve_model

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[float, float], None]
"""Called after each recognised segment with (seconds processed, total seconds)."""

# Whisper re-decodes a window at a higher temperature when the result looks wrong (repetitive or
# improbable). faster-whisper's default tries six temperatures; three keep most of the benefit
# and bound the worst case a hard-to-hear note costs everyone waiting in the queue.
FALLBACK_TEMPERATURES = (0.0, 0.4, 0.8)

ModelFactory = Callable[[], Any]
"""Builds a `faster_whisper.WhisperModel` (or an object with the same `transcribe`)."""


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    language_probability: float
    duration_s: float
    processing_s: float
    segments: tuple[TranscriptSegment, ...]

    @property
    def real_time_factor(self) -> float:
        """Processing time divided by audio duration (lower is faster)."""
        return self.processing_s / self.duration_s if self.duration_s > 0 else 0.0


def _normalise_languages(languages: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for language in languages:
        code = language.strip().lower().split("-")[0].split("_")[0]
        if code and code not in seen:
            seen.append(code)
    return tuple(seen)


def choose_language(
    detected: str, probabilities: Sequence[tuple[str, float]] | None, allowed: Sequence[str]
) -> str:
    """Keep the detected language if allowed, else the most probable allowed one.

    Whisper base often mistakes short or accented Russian for Serbian, Ukrainian or German;
    restricting the choice to the user's languages fixes most of those.
    """
    if not allowed or detected in allowed:
        return detected
    ranked = {code: prob for code, prob in probabilities or ()}
    return max(allowed, key=lambda code: ranked.get(code, 0.0))


def cpu_threads_per_worker(settings: SpeechSettings) -> int:
    if settings.cpu_threads > 0:
        return settings.cpu_threads
    # Every worker may use every core: a note alone is then transcribed on all of them (on 2
    # cores a 30 s note takes ~3.9 s instead of ~4.8 s with one thread), and when several notes
    # run at once their threads share the cores with no loss of throughput (measured in
    # BENCHMARKS.md, "Voice transcription").
    return max(1, os.cpu_count() or 1)


def build_whisper_model(settings: SpeechSettings) -> Any:
    """The `faster_whisper.WhisperModel` described by ``settings`` (joins the packaged model)."""
    # Heavy import (CTranslate2), only when speech is used.
    from companion.speech.whisper_model import EncoderReusingWhisperModel

    path = resolve_model(settings.model, settings.cache_dir)
    logger.info("loading Whisper model %s (%s, %s)", path, settings.device, settings.compute_type)
    return EncoderReusingWhisperModel(
        path,
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=cpu_threads_per_worker(settings),
        # Lets `workers` threads run the model at the same time instead of taking turns.
        num_workers=max(1, settings.workers),
        download_root=str(settings.cache_dir),
    )


class Transcriber:
    """Checks audio, then transcribes it with the language limited to the allowed ones."""

    def __init__(
        self, settings: SpeechSettings, *, model_factory: ModelFactory | None = None
    ) -> None:
        self._settings = settings
        self._model_factory = model_factory or (lambda: build_whisper_model(settings))
        self._model: Any = None
        self._load_lock = threading.Lock()
        self._languages = _normalise_languages(settings.languages)

    @property
    def settings(self) -> SpeechSettings:
        return self._settings

    @property
    def max_file_bytes(self) -> int:
        return self._settings.max_file_bytes

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Build the model once; safe to call from several threads."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is None:
                started = time.perf_counter()
                self._model = self._model_factory()
                logger.info("Whisper model ready in %.1f s", time.perf_counter() - started)

    def check(self, source: AudioSource) -> int:
        """The cheap checks that need no decoding (size); returns the size in bytes."""
        return check_size(source, self._settings.max_file_bytes)

    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None:
        """Refuse by what the sender declares (Telegram's file_size, duration) before download."""
        limit_bytes = self._settings.max_file_bytes
        if size_bytes is not None and size_bytes > limit_bytes:
            raise AudioTooLargeError(size_bytes, limit_bytes)
        limit_s = self._settings.max_duration_s
        # Telegram rounds durations to whole seconds; decoding re-checks the real length.
        if duration_s is not None and duration_s > limit_s + 1:
            raise AudioTooLongError(duration_s, limit_s)

    def allowed_languages(self, hint: str | Sequence[str] | None) -> tuple[str, ...]:
        if hint is None:
            return self._languages
        if isinstance(hint, str):
            return _normalise_languages([hint])
        return _normalise_languages(hint)

    def transcribe(
        self,
        source: AudioSource,
        language_hint: str | Sequence[str] | None = None,
        *,
        beam_size: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe one note (blocking; run it in a worker thread).

        ``language_hint``: one language code forces that language; a list limits detection to
        those; None uses ``speech.languages`` (empty: any language the model knows).

        Raises AudioTooLargeError, AudioTooLongError, AudioUnreadableError or
        NothingRecognisedError; the model is not touched for the first three.
        """
        started = time.perf_counter()
        self.check(source)
        audio = decode(source, self._settings.max_duration_s)
        self.load()
        allowed = self.allowed_languages(language_hint)
        beam = beam_size or self._settings.beam_size
        forced = allowed[0] if len(allowed) == 1 else None
        segments, info = self._run(audio, forced, beam)
        if self._settings.vad_filter and info.duration_after_vad <= 0:
            raise NothingRecognisedError("no speech found by the voice activity detector")
        language = choose_language(info.language, info.all_language_probs, allowed)
        if language != info.language:
            logger.debug(
                "detected %s (p=%.2f) is not among %s; transcribing as %s",
                info.language,
                info.language_probability,
                allowed,
                language,
            )
            probability = dict(info.all_language_probs or ()).get(language, 0.0)
            segments, info = self._run(audio, language, beam)
        else:
            probability = info.language_probability
        parts: list[TranscriptSegment] = []
        for segment in segments:
            text = segment.text.strip()
            if text:
                parts.append(TranscriptSegment(float(segment.start), float(segment.end), text))
            if on_progress is not None:
                on_progress(min(float(segment.end), audio.duration_s), audio.duration_s)
        text = " ".join(part.text for part in parts)
        if not any(char.isalnum() for char in text):
            raise NothingRecognisedError("the model recognised no words")
        if on_progress is not None:
            on_progress(audio.duration_s, audio.duration_s)
        return Transcript(
            text=text,
            language=language,
            language_probability=float(probability),
            duration_s=audio.duration_s,
            processing_s=time.perf_counter() - started,
            segments=tuple(parts),
        )

    def _run(self, audio: DecodedAudio, language: str | None, beam_size: int) -> tuple[Any, Any]:
        # Segments are produced lazily; only language detection and VAD run here.
        segments, info = self._model.transcribe(
            audio.samples,
            language=language,
            beam_size=beam_size,
            vad_filter=self._settings.vad_filter,
            # Conditioning on the previous window makes small models loop on repeated words
            # ("ах, ах, ах..."); voice notes are short enough to lose nothing without it.
            condition_on_previous_text=False,
            temperature=list(FALLBACK_TEMPERATURES),
        )
        return segments, info
