"""Prometheus adapter for `SpeechMetrics`, registered on the registry the composition root owns.

speech_metrics = PrometheusSpeechMetrics(metrics.registry)
pool = TranscriptionPool(transcriber, workers=..., queue_limit=..., metrics=speech_metrics)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from companion.speech.transcriber import Transcript

_SECONDS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
_RTF = (0.05, 0.1, 0.13, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 4)


class PrometheusSpeechMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.processing_seconds = Histogram(
            "companion_speech_processing_seconds",
            "Time to decode and transcribe one note (in a worker)",
            registry=registry,
            buckets=_SECONDS,
        )
        self.wait_seconds = Histogram(
            "companion_speech_wait_seconds",
            "Time a note waited for a worker (and for the same user's earlier notes)",
            registry=registry,
            buckets=_SECONDS,
        )
        self.audio_seconds = Histogram(
            "companion_speech_audio_seconds",
            "Duration of transcribed notes",
            registry=registry,
            buckets=_SECONDS,
        )
        self.real_time_factor = Histogram(
            "companion_speech_real_time_factor",
            "Processing time / audio duration",
            registry=registry,
            buckets=_RTF,
        )
        self.notes = Counter(
            "companion_speech_notes_total",
            "Transcribed notes by language",
            ["language"],
            registry=registry,
        )
        self.failures = Counter(
            "companion_speech_failures_total",
            "Notes not transcribed, by reason",
            ["reason"],
            registry=registry,
        )
        self.waiting = Gauge(
            "companion_speech_waiting", "Notes waiting for a worker", registry=registry
        )
        self.running = Gauge(
            "companion_speech_running", "Notes being transcribed", registry=registry
        )

    def transcribed(self, transcript: Transcript, waited_s: float) -> None:
        self.processing_seconds.observe(transcript.processing_s)
        self.wait_seconds.observe(waited_s)
        self.audio_seconds.observe(transcript.duration_s)
        self.real_time_factor.observe(transcript.real_time_factor)
        self.notes.labels(language=transcript.language).inc()

    def failed(self, reason: str) -> None:
        self.failures.labels(reason=reason).inc()

    def queue_depth(self, waiting: int, running: int) -> None:
        self.waiting.set(waiting)
        self.running.set(running)
