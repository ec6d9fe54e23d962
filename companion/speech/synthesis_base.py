"""The voice-reply port and what every engine shares, importable without the voice extra.

The Telegram layer, the CLI and the composition root import this module only; the engines
(`synthesis`, `synthesis_openai`, `synthesis_espeak`) need PyAV and are imported by
`build_synthesizer`, which answers `NoSynthesis` when they cannot be.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Histogram

from companion.config import TTSSettings
from companion.speech.errors import SpeechError

log = logging.getLogger(__name__)


class SynthesisError(SpeechError):
    """Synthesis or encoding failed: the text reply stands, the voice note is skipped."""

    message_id = "voice-replies-failed"


@dataclass(frozen=True, slots=True)
class Pcm:
    """Mono 16-bit samples at ``sample_rate``, as an offline engine produces them."""

    samples: npt.NDArray[np.int16]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """An OGG/Opus file ready for sendVoice."""

    ogg: bytes
    duration_s: float
    synthesis_s: float  # engine + encoding time (not the time spent waiting for a worker)
    engine: str
    language: str

    @property
    def real_time_factor(self) -> float:
        return self.synthesis_s / self.duration_s if self.duration_s > 0 else 0.0


class SpeechSynthesizer(Protocol):
    """The port the Telegram layer and the CLI use."""

    @property
    def enabled(self) -> bool: ...

    async def synthesize(self, text: str, *, voice: str, language: str) -> VoiceNote | None:
        """The note, or None when the text has nothing to say aloud (only emoji, a link...).

        Raises `SynthesisError` (or `SynthesizerBusyError`) when no note can be made."""
        ...


class SynthesizerBusyError(SynthesisError):
    message_id = "voice-replies-busy"


class SynthesisMetrics(Protocol):
    def synthesized(self, note: VoiceNote) -> None: ...

    def failed(self, reason: str) -> None: ...


class PrometheusSynthesisMetrics:
    """`SynthesisMetrics` on the registry the composition root owns."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notes = Counter(
            "companion_tts_notes_total",
            "Voice replies synthesised, by engine and language",
            ["engine", "language"],
            registry=registry,
        )
        self.failures = Counter(
            "companion_tts_failures_total",
            "Voice replies not delivered (the text reply was), by reason",
            ["reason"],
            registry=registry,
        )
        self.seconds = Histogram(
            "companion_tts_seconds",
            "Synthesis and encoding time of one voice reply",
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
        )
        self.real_time_factor = Histogram(
            "companion_tts_real_time_factor",
            "Synthesis time / audio duration",
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2),
        )

    def synthesized(self, note: VoiceNote) -> None:
        self.notes.labels(engine=note.engine, language=note.language).inc()
        self.seconds.observe(note.synthesis_s)
        self.real_time_factor.observe(note.real_time_factor)

    def failed(self, reason: str) -> None:
        self.failures.labels(reason=reason).inc()


class NoSynthesis:
    """Voice replies off: nothing is ever synthesised."""

    enabled = False

    async def synthesize(self, text: str, *, voice: str, language: str) -> VoiceNote | None:
        raise SynthesisError("voice replies are off (tts.engine=off or no voice extra)")

    async def close(self) -> None:
        return None


def build_synthesizer(
    settings: TTSSettings, metrics: SynthesisMetrics | None, stack: AsyncExitStack
) -> ClosableSynthesizer:
    """The engine ``tts.engine`` names, closed with ``stack``; `NoSynthesis` when it is "off"
    or its libraries are not installed (the voice extra)."""
    synthesizer: ClosableSynthesizer = NoSynthesis()
    try:
        if settings.engine == "openai":
            from companion.speech.synthesis_openai import OpenAISpeechSynthesizer

            synthesizer = OpenAISpeechSynthesizer(settings, metrics)
        elif settings.engine == "offline":
            from companion.speech.synthesis import offline_synthesizer

            synthesizer = offline_synthesizer(settings, metrics)
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        log.warning("voice replies are off: %s", exc)
    stack.push_async_callback(synthesizer.close)
    return synthesizer


class ClosableSynthesizer(SpeechSynthesizer, Protocol):
    async def close(self) -> None: ...


def guess_language(text: str, fallback: str) -> str:
    """ "ru" when most letters are Cyrillic, "en" when most are Latin, else ``fallback``."""
    cyrillic = sum(1 for ch in text if "\u0400" <= ch <= "\u04ff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if cyrillic == latin == 0:
        return fallback
    return "ru" if cyrillic >= latin else "en"
