"""A bounded pool of transcription threads with per-user ordering, driven from asyncio.

- ``workers`` threads transcribe at once (notes of different users run in parallel);
- at most ``queue_limit`` more notes wait; beyond that `TranscriberBusyError` is raised at once,
  so a user hears "busy, try again in a minute" instead of waiting without end;
- one user's notes are transcribed one after another in the order they arrived, so replies to
  a burst of voice notes come back in the order they were spoken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from companion.speech.audio import AudioSource
from companion.speech.errors import (
    SpeechError,
    TranscriberBusyError,
    TranscriberClosedError,
    TranscriptionFailedError,
)
from companion.speech.transcriber import Transcript

logger = logging.getLogger(__name__)


class TranscriptionEngine(Protocol):
    """What the pool needs from `Transcriber` (blocking calls, run in worker threads)."""

    @property
    def max_file_bytes(self) -> int: ...

    def load(self) -> None: ...

    def check(self, source: AudioSource) -> int: ...

    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None: ...

    def transcribe(
        self, source: AudioSource, language_hint: str | Sequence[str] | None = None
    ) -> Transcript: ...


class SpeechMetrics(Protocol):
    """Optional observer (e.g. Prometheus adapter built by the composition root)."""

    def transcribed(self, transcript: Transcript, waited_s: float) -> None: ...

    def failed(self, reason: str) -> None: ...

    def queue_depth(self, waiting: int, running: int) -> None: ...


@dataclass(slots=True)
class _UserLane:
    """The order of one user's notes: each waits for the lock held by the one before it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0


class TranscriptionPool:
    def __init__(
        self,
        engine: TranscriptionEngine,
        *,
        workers: int,
        queue_limit: int,
        metrics: SpeechMetrics | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("speech.workers must be at least 1")
        if queue_limit < 0:
            raise ValueError("speech.queue_limit must not be negative")
        self._engine = engine
        self._workers = workers
        self._queue_limit = queue_limit
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whisper")
        # Bounds the notes in the executor; notes beyond it wait (and are counted as waiting).
        self._slots = asyncio.Semaphore(workers)
        self._lanes: dict[int, _UserLane] = {}
        self._admitted = 0  # waiting + running
        self._running = 0
        self._closed = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def waiting(self) -> int:
        return self._admitted - self._running

    @property
    def running(self) -> int:
        return self._running

    @property
    def max_file_bytes(self) -> int:
        return self._engine.max_file_bytes

    @property
    def capacity(self) -> int:
        return self._workers + self._queue_limit

    def check_declared(self, size_bytes: int | None, duration_s: float | None) -> None:
        """Refuse a note by its declared size/duration before it is downloaded.

        Also refuses with `TranscriberBusyError` when the pool is full, so a front-end does not
        download a file it could not queue anyway (the check is repeated on `transcribe`)."""
        self._engine.check_declared(size_bytes, duration_s)
        if self._closed:
            raise TranscriberClosedError("the transcription pool is shut down")
        if self._admitted >= self.capacity:
            self._report_failure("busy")
            raise TranscriberBusyError(
                f"{self._admitted} notes in progress, the limit is {self.capacity}"
            )

    async def start(self) -> None:
        """Load the model in a worker thread so the first note does not pay for it."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.load)

    async def warm_up(self) -> None:
        """The background warm-up's step (`companion.llm.warmup`): the same load as `start`,
        which the bot then does not wait for; a note arriving first waits for the load in its
        worker (the engine loads once)."""
        await self.start()

    async def transcribe(
        self,
        user_id: int,
        audio: AudioSource,
        language_hint: str | Sequence[str] | None = None,
    ) -> Transcript:
        """Transcribe one note; raises a `SpeechError` subclass the front-end can render."""
        if self._closed:
            raise TranscriberClosedError("the transcription pool is shut down")
        # Size is checked before queueing: an oversized file should not hold a queue place.
        self._engine.check(audio)
        if self._admitted >= self.capacity:
            self._report_failure("busy")
            raise TranscriberBusyError(
                f"{self._admitted} notes in progress, the limit is {self.capacity}"
            )
        self._admitted += 1
        self._idle.clear()
        lane = self._lanes.setdefault(user_id, _UserLane())
        lane.pending += 1
        queued_at = time.perf_counter()
        self._report_depth()
        try:
            async with lane.lock, self._slots:
                self._running += 1
                self._report_depth()
                waited = time.perf_counter() - queued_at
                try:
                    transcript = await self._run_in_thread(audio, language_hint)
                finally:
                    self._running -= 1
        except SpeechError as exc:
            self._report_failure(type(exc).__name__)
            raise
        finally:
            lane.pending -= 1
            if lane.pending == 0:
                del self._lanes[user_id]
            self._admitted -= 1
            self._report_depth()
            if self._admitted == 0:
                self._idle.set()
        if self._metrics is not None:
            self._metrics.transcribed(transcript, waited)
        return transcript

    async def _run_in_thread(
        self, audio: AudioSource, language_hint: str | Sequence[str] | None
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._engine.transcribe, audio, language_hint)
        # If the caller is cancelled the thread still finishes its note; keep the slot (and the
        # user's order) until it does, so the pool never runs more than `workers` notes.
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait([future])
            raise
        except SpeechError:
            raise
        except Exception as exc:
            # The user gets "something went wrong while listening"; the cause goes to the log.
            logger.exception("transcription failed")
            raise TranscriptionFailedError(f"transcription failed: {type(exc).__name__}") from exc

    async def close(self, timeout_s: float | None = 30.0) -> None:
        """Refuse new notes, let admitted ones finish (up to ``timeout_s``), stop the threads."""
        self._closed = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            logger.warning("speech pool closed with %d notes unfinished", self._admitted)
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)

    def _report_depth(self) -> None:
        if self._metrics is not None:
            self._metrics.queue_depth(self.waiting, self._running)

    def _report_failure(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.failed(reason)
