"""The transcription pool: bounded, per-user ordered, parallel across users, clean shutdown.

The engine here is an honest stand-in for `Transcriber`: it blocks its worker thread like the
model does and records which note ran when, so the tests check the pool's real scheduling.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from companion.speech.audio import AudioSource
from companion.speech.errors import (
    AudioTooLargeError,
    AudioUnreadableError,
    TranscriberBusyError,
    TranscriberClosedError,
    TranscriptionFailedError,
)
from companion.speech.pool import TranscriptionPool
from companion.speech.transcriber import Transcript


@dataclass
class RecordingEngine:
    """Transcribes b"<user>:<n>" notes to that text after `delay_s`, recording the timeline."""

    delay_s: float = 0.05
    max_bytes: int = 1000
    gate: threading.Event | None = None  # when set, notes block until it opens
    loaded: int = 0
    started: list[str] = field(default_factory=list)
    running: dict[str, int] = field(default_factory=dict)  # per user, right now
    max_running_per_user: int = 0
    max_running: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _now: int = 0

    @property
    def max_file_bytes(self) -> int:
        return self.max_bytes

    def load(self) -> None:
        self.loaded += 1

    def check(self, source: AudioSource) -> int:
        assert isinstance(source, bytes)
        if len(source) > self.max_bytes:
            raise AudioTooLargeError(len(source), self.max_bytes)
        return len(source)

    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None:
        if size_bytes is not None and size_bytes > self.max_bytes:
            raise AudioTooLargeError(size_bytes, self.max_bytes)

    def transcribe(
        self, source: AudioSource, language_hint: str | Sequence[str] | None = None
    ) -> Transcript:
        assert isinstance(source, bytes)
        text = source.decode()
        user = text.split(":")[0]
        if text.endswith("broken"):
            raise AudioUnreadableError("broken")
        if text.endswith("crash"):
            raise RuntimeError("CUDA failed with error out of memory")
        with self._lock:
            self.started.append(text)
            self.running[user] = self.running.get(user, 0) + 1
            self._now += 1
            self.max_running_per_user = max(self.max_running_per_user, self.running[user])
            self.max_running = max(self.max_running, self._now)
        try:
            if self.gate is not None:
                assert self.gate.wait(10), "gate never opened"
            time.sleep(self.delay_s)
        finally:
            with self._lock:
                self.running[user] -= 1
                self._now -= 1
        language = language_hint if isinstance(language_hint, str) else "ru"
        return Transcript(text, language, 1.0, 1.0, self.delay_s, ())


async def test_returns_the_transcript_and_loads_once() -> None:
    engine = RecordingEngine()
    pool = TranscriptionPool(engine, workers=2, queue_limit=2)
    await pool.start()
    result = await pool.transcribe(7, b"7:hello", language_hint="en")
    assert (result.text, result.language) == ("7:hello", "en")
    assert engine.loaded == 1
    await pool.close()


async def test_one_users_notes_keep_their_order() -> None:
    engine = RecordingEngine(delay_s=0.02)
    pool = TranscriptionPool(engine, workers=3, queue_limit=20)
    notes = [f"1:{n}".encode() for n in range(8)]
    results = await asyncio.gather(*(pool.transcribe(1, note) for note in notes))
    assert [r.text for r in results] == [n.decode() for n in notes]
    assert engine.started == [n.decode() for n in notes]
    assert engine.max_running_per_user == 1  # never two of one user's notes at once
    await pool.close()


async def test_different_users_run_in_parallel_up_to_the_pool_size() -> None:
    engine = RecordingEngine(delay_s=0.3)
    pool = TranscriptionPool(engine, workers=3, queue_limit=10)
    started = time.perf_counter()
    results = await asyncio.gather(*(pool.transcribe(u, f"{u}:a".encode()) for u in range(6)))
    elapsed = time.perf_counter() - started
    assert sorted(r.text for r in results) == [f"{u}:a" for u in range(6)]
    assert engine.max_running == 3  # parallel, but never more than the workers
    assert elapsed < 6 * 0.3 * 0.75  # clearly faster than one after another
    await pool.close()


async def test_full_queue_answers_busy_at_once() -> None:
    gate = threading.Event()
    engine = RecordingEngine(gate=gate, delay_s=0)
    pool = TranscriptionPool(engine, workers=1, queue_limit=2)
    admitted = [asyncio.create_task(pool.transcribe(u, f"{u}:x".encode())) for u in range(3)]
    await asyncio.sleep(0.05)
    assert (pool.running, pool.waiting) == (1, 2)
    started = time.perf_counter()
    with pytest.raises(TranscriberBusyError):
        await pool.transcribe(99, b"99:x")
    assert time.perf_counter() - started < 0.05
    gate.set()
    assert [r.text for r in await asyncio.gather(*admitted)] == ["0:x", "1:x", "2:x"]
    # Capacity is back once the queue drains.
    assert (await pool.transcribe(99, b"99:x")).text == "99:x"
    await pool.close()


async def test_oversized_note_is_refused_before_taking_a_place() -> None:
    gate = threading.Event()
    engine = RecordingEngine(gate=gate, max_bytes=10)
    pool = TranscriptionPool(engine, workers=1, queue_limit=0)
    running = asyncio.create_task(pool.transcribe(1, b"1:a"))
    await asyncio.sleep(0.05)
    with pytest.raises(AudioTooLargeError):
        await pool.transcribe(2, b"2:" + b"x" * 50)
    with pytest.raises(AudioTooLargeError):  # by the declared size, before any download
        pool.check_declared(50, None)
    with pytest.raises(TranscriberBusyError):  # a full pool is reported before downloading too
        pool.check_declared(5, None)
    gate.set()
    await running
    await pool.close()


async def test_an_error_frees_the_slot_and_the_users_lane() -> None:
    engine = RecordingEngine()
    pool = TranscriptionPool(engine, workers=1, queue_limit=0)
    with pytest.raises(AudioUnreadableError):
        await pool.transcribe(1, b"1:broken")
    assert (pool.running, pool.waiting) == (0, 0)
    # An unexpected failure becomes a SpeechError the front-end can word ("voice-failed").
    with pytest.raises(TranscriptionFailedError) as caught:
        await pool.transcribe(1, b"1:crash")
    assert caught.value.message_id == "voice-failed"
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert (await pool.transcribe(1, b"1:ok")).text == "1:ok"
    await pool.close()


async def test_cancelled_waiter_gives_its_place_back() -> None:
    gate = threading.Event()
    engine = RecordingEngine(gate=gate, delay_s=0)
    pool = TranscriptionPool(engine, workers=1, queue_limit=1)
    first = asyncio.create_task(pool.transcribe(1, b"1:a"))
    second = asyncio.create_task(pool.transcribe(2, b"2:a"))
    await asyncio.sleep(0.05)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert pool.waiting == 0
    gate.set()
    assert (await first).text == "1:a"
    assert engine.started == ["1:a"]  # the cancelled note never reached a worker
    await pool.close()


async def test_close_lets_admitted_notes_finish_then_refuses() -> None:
    engine = RecordingEngine(delay_s=0.2)
    pool = TranscriptionPool(engine, workers=2, queue_limit=2)
    pending = [asyncio.create_task(pool.transcribe(u, f"{u}:z".encode())) for u in range(3)]
    await asyncio.sleep(0.02)
    await pool.close(timeout_s=5)
    assert all(task.done() for task in pending)
    assert sorted(t.result().text for t in pending) == ["0:z", "1:z", "2:z"]
    with pytest.raises(TranscriberClosedError):
        await pool.transcribe(1, b"1:late")


class Metrics:
    def __init__(self) -> None:
        self.done: list[tuple[str, float]] = []
        self.failures: list[str] = []
        self.depths: list[tuple[int, int]] = []

    def transcribed(self, transcript: Transcript, waited_s: float) -> None:
        self.done.append((transcript.text, waited_s))

    def failed(self, reason: str) -> None:
        self.failures.append(reason)

    def queue_depth(self, waiting: int, running: int) -> None:
        self.depths.append((waiting, running))


async def test_metrics_see_waits_failures_and_depth() -> None:
    engine = RecordingEngine(delay_s=0.1)
    metrics = Metrics()
    pool = TranscriptionPool(engine, workers=1, queue_limit=1, metrics=metrics)
    results = await asyncio.gather(
        pool.transcribe(1, b"1:a"),
        pool.transcribe(2, b"2:a"),
        pool.transcribe(3, b"3:a"),
        return_exceptions=True,
    )
    assert isinstance(results[2], TranscriberBusyError)
    assert [text for text, _ in metrics.done] == ["1:a", "2:a"]
    assert metrics.done[1][1] >= 0.08  # the second note waited for the first
    assert metrics.failures == ["busy"]
    assert max(w for w, _ in metrics.depths) == 1 and max(r for _, r in metrics.depths) == 1
    assert metrics.depths[-1] == (0, 0)
    await pool.close()


def test_rejects_nonsense_sizes() -> None:
    with pytest.raises(ValueError):
        TranscriptionPool(RecordingEngine(), workers=0, queue_limit=1)
    with pytest.raises(ValueError):
        TranscriptionPool(RecordingEngine(), workers=1, queue_limit=-1)


async def test_prometheus_metrics_count_what_the_pool_did() -> None:
    from prometheus_client import CollectorRegistry

    from companion.speech.metrics import PrometheusSpeechMetrics

    registry = CollectorRegistry()
    pool = TranscriptionPool(
        RecordingEngine(delay_s=0.01),
        workers=1,
        queue_limit=0,
        metrics=PrometheusSpeechMetrics(registry),
    )
    await pool.transcribe(1, b"1:a", language_hint="en")
    with pytest.raises(AudioUnreadableError):
        await pool.transcribe(1, b"1:broken")

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("companion_speech_notes_total", language="en") == 1
    assert value("companion_speech_failures_total", reason="AudioUnreadableError") == 1
    assert value("companion_speech_processing_seconds_count") == 1
    assert value("companion_speech_running") == 0
    await pool.close()
