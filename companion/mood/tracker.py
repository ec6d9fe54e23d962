"""The background reader: every user message is queued here after its reply, read in batches
by the emotion classifier in a worker thread, and stored; then the survey and the help offer
are checked. Nothing here is on the reply's path.

The queue is bounded: when the classifier falls behind, new messages go unread (counted in
`companion_mood_dropped_total`) rather than growing memory. Shutdown drains what is queued
for at most `drain_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter

from companion.config import MoodCareSettings
from companion.domain.models import Conversation, User
from companion.domain.personas import Persona
from companion.mood.care import MoodCare, local_day
from companion.mood.emotions import EmotionReader
from companion.mood.store import MoodState, MoodStore, StoredReading
from companion.mood.survey import SurveyService

log = logging.getLogger(__name__)

_STATES_KEPT = 4096


class MoodNotifier(Protocol):
    """Messages the mood service sends on its own (the Telegram layer implements it)."""

    async def offer_help(self, user: User, persona: Persona) -> None: ...
    async def invite_survey(self, user: User, persona: Persona) -> None: ...


class MoodMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry or CollectorRegistry()
        self.read = Counter(
            "companion_mood_readings_total", "User messages read for mood", registry=registry
        )
        self.dropped = Counter(
            "companion_mood_dropped_total",
            "User messages left unread because the mood queue was full or shutting down",
            registry=registry,
        )
        self.failed = Counter(
            "companion_mood_failed_total", "Mood batches that failed", registry=registry
        )


@dataclass(frozen=True, slots=True)
class _Item:
    user: User
    persona: Persona
    conversation_id: str
    text: str
    at: datetime


class MoodTracker:
    """Implements `companion.domain.ports.MessageObserver`."""

    def __init__(
        self,
        *,
        store: MoodStore,
        reader: EmotionReader | None,
        care: MoodCare,
        survey: SurveyService,
        settings: MoodCareSettings,
        clock: Callable[[], datetime],
        metrics: MoodMetrics | None = None,
        notifier: MoodNotifier | None = None,
    ) -> None:
        self._store = store
        self._reader = reader
        self._care = care
        self._survey = survey
        self._settings = settings
        self._clock = clock
        self._metrics = metrics or MoodMetrics()
        self.notifier = notifier
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=settings.queue_limit)
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        # Users erased while their messages were queued, and when: those messages are never
        # stored (what they write after coming back is).
        self._forgotten: dict[int, datetime] = {}
        self._batch_lock = asyncio.Lock()
        # Per user, the mood state as this process last saw it (days counted, what was shown).
        self._states: OrderedDict[int, MoodState] = OrderedDict()

    @property
    def reading(self) -> bool:
        """Whether a classifier is wired (without one, tracking is a no-op)."""
        return self._reader is not None

    def observe(self, user: User, persona: Persona, conversation: Conversation, text: str) -> None:
        if self._closing:
            self._metrics.dropped.inc()
            return
        item = _Item(user, persona, conversation.id, text, self._clock())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._metrics.dropped.inc()
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run(), name="mood-reader")

    async def forget_user(self, user_id: int) -> None:
        """An erasure step (/forget): the user's queued messages are never read, a batch in
        flight finishes first, then whatever it stored is deleted again."""
        now = self._clock()
        # Older marks matter no more: nothing stays queued that long (`drain_timeout_s` and
        # the queue's bound).
        self._forgotten = {
            uid: at for uid, at in self._forgotten.items() if now - at < timedelta(days=1)
        }
        self._forgotten[user_id] = now
        self._states.pop(user_id, None)
        async with self._batch_lock:
            await self._store.delete_user(user_id)
            await self._store.delete_state(user_id)
        self._care.invalidate(user_id)

    def _remember_state(self, user_id: int, state: MoodState) -> None:
        self._states[user_id] = state
        self._states.move_to_end(user_id)
        while len(self._states) > _STATES_KEPT:
            self._states.popitem(last=False)

    async def idle(self) -> None:
        """Wait until everything queued so far is processed (tests, benchmarks)."""
        await self._queue.join()

    async def close(self) -> None:
        """Stop taking messages; process what is queued, for at most `drain_timeout_s`."""
        self._closing = True
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), self._settings.drain_timeout_s)
        except TimeoutError:
            left = self._queue.qsize()
            log.warning("mood: shutdown left %d message(s) unread", left)
            self._metrics.dropped.inc(left)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._settings.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._batch_lock:
                    await self._process([item for item in batch if not self._erased(item)])
            except Exception:
                self._metrics.failed.inc()
                log.exception("mood: a batch of %d message(s) failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _erased(self, item: _Item) -> bool:
        erased_at = self._forgotten.get(item.user.id)
        return erased_at is not None and item.at <= erased_at

    async def _process(self, batch: list[_Item]) -> None:
        tracked = [item for item in batch if item.user.settings.mood_tracking]
        if tracked and self._reader is not None:
            try:
                await self._read(tracked, self._reader)
            except Exception:
                # The survey and the help offer below do not depend on this batch's readings.
                self._metrics.failed.inc()
                log.exception("mood: reading a batch of %d message(s) failed", len(tracked))
        for item in batch:
            await self._follow_up(item)

    async def _read(self, tracked: list[_Item], reader: EmotionReader) -> None:
        # CPU-bound model inference: in a worker thread, never on the event loop.
        readings = await asyncio.to_thread(reader.read, [item.text for item in tracked])
        stored = [
            StoredReading(
                user_id=item.user.id,
                at=item.at,
                day=local_day(item.user, item.at).isoformat(),
                persona_id=item.persona.id,
                module=item.persona.module.value,
                conversation_id=item.conversation_id,
                reading=reading,
            )
            for item, reading in zip(tracked, readings, strict=True)
        ]
        await self._store.add_many(stored)
        self._metrics.read.inc(len(tracked))
        # The care answer for the next reply, decided here rather than on its path.
        users = {item.user.id: item.user for item in tracked}
        for user_id, user in users.items():
            await self._care.add(user, [r for r in stored if r.user_id == user_id])

    async def _follow_up(self, item: _Item) -> None:
        """The help offer during a low stretch; the survey on its day. One message at most."""
        user, persona = item.user, item.persona
        notifier = self.notifier
        try:
            day = local_day(user, item.at).isoformat()
            state = self._states.get(user.id)
            if state is None or state.last_day != day:
                # The first message of a day: counted once; the rest of the day reads the
                # state kept here (the claims below are atomic whatever it says).
                state = await self._survey.count_day(user, day)
            self._remember_state(user.id, state)
            if notifier is None:
                return  # nobody to show anything to (the terminal chat): nothing is claimed
            now = self._clock()
            if await self._care.help_offer_due(user, state):
                self._remember_state(user.id, replace(state, help_offered_at=now))
                await notifier.offer_help(user, persona)
            elif await self._survey.claim_if_due(user, state, persona):
                self._remember_state(user.id, replace(state, survey_shown_at=now))
                await notifier.invite_survey(user, persona)
        except Exception:
            self._states.pop(user.id, None)
            log.exception("mood: follow-up failed for user %s", user.id)
