"""The background reader over a real MongoDB-wire server: batches, drops when the queue is
full (counted), drains at shutdown within its bound, and never stores an erased user's queued
messages."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.config import MoodCareSettings, SurveySettings
from companion.domain.models import Conversation, User
from companion.domain.personas import Persona
from companion.mood.care import MoodCare
from companion.mood.emotions import Emotion, EmotionReading
from companion.mood.store import MoodStore
from companion.mood.survey import SurveyService
from companion.mood.tracker import MoodMetrics, MoodTracker
from companion.storage import collections as c
from companion.storage.crypto import AesGcmCipher

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


class GatedReader:
    """Blocks in `read` until released, so the test controls when the worker is busy."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.batches: list[int] = []

    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        self.gate.wait(10)
        self.batches.append(len(texts))
        return [EmotionReading(frozenset({Emotion.SADNESS})) for _ in texts]


def _persona() -> Persona:
    return Persona.model_validate(
        {
            "id": "anna",
            "name": {"en": "Anna"},
            "module": "support",
            "languages": ["en"],
            "description": "d",
            "personality": "p",
            "speaking_style": "s",
            "scenario": "c",
            "greetings": {"en": ["Hi"]},
            "preview": {"en": "p"},
        }
    )


def _tracker(
    db: AsyncDatabase[dict[str, Any]], reader: GatedReader, **settings: Any
) -> tuple[MoodTracker, MoodStore, MoodMetrics]:
    cipher = AesGcmCipher(b"k" * 32)
    store = MoodStore(db, cipher)
    mood_settings = MoodCareSettings(**settings)
    care = MoodCare(store, mood_settings, lambda: NOW)
    survey = SurveyService(db, cipher, store, SurveySettings(), lambda: NOW)
    metrics = MoodMetrics()
    tracker = MoodTracker(
        store=store,
        reader=reader,
        care=care,
        survey=survey,
        settings=mood_settings,
        clock=lambda: NOW,
        metrics=metrics,
    )
    return tracker, store, metrics


def _say(tracker: MoodTracker, user_id: int, text: str) -> None:
    user = User(id=user_id, language="en")
    conversation = Conversation(id=f"c{user_id}", user_id=user_id, persona_id="anna")
    tracker.observe(user, _persona(), conversation, text)


async def test_batches_drops_when_full_and_drains_at_shutdown(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    reader = GatedReader()
    tracker, _, metrics = _tracker(mongo_db, reader, queue_limit=3, batch_size=8)
    _say(tracker, 1, "first")  # taken by the worker, which then blocks in the reader
    await asyncio.sleep(0.2)
    for n in range(5):  # 3 fit in the queue, 2 are dropped
        _say(tracker, 1, f"more {n}")
    assert metrics.dropped._value.get() == 2
    reader.gate.set()
    await tracker.close()
    assert reader.batches == [1, 3]  # the queued three in one batch
    assert await mongo_db[c.MOOD_READINGS].count_documents({"user_id": 1}) == 4
    assert metrics.read._value.get() == 4
    _say(tracker, 1, "after close")  # refused, counted
    assert metrics.dropped._value.get() == 3


async def test_shutdown_waits_only_its_bound(mongo_db: AsyncDatabase[dict[str, Any]]) -> None:
    reader = GatedReader()  # never released: the classifier hangs
    tracker, _, metrics = _tracker(mongo_db, reader, drain_timeout_s=0.3)
    _say(tracker, 1, "stuck")
    await asyncio.sleep(0.1)
    _say(tracker, 1, "queued behind it")
    started = asyncio.get_running_loop().time()
    await tracker.close()
    assert asyncio.get_running_loop().time() - started < 5
    assert metrics.dropped._value.get() == 1
    reader.gate.set()  # let the worker thread finish


async def test_an_erased_users_queued_messages_are_never_stored(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    reader = GatedReader()
    tracker, store, _ = _tracker(mongo_db, reader)
    _say(tracker, 5, "in flight")
    await asyncio.sleep(0.1)
    _say(tracker, 5, "queued")
    _say(tracker, 6, "someone else")
    forget = asyncio.create_task(tracker.forget_user(5))
    await asyncio.sleep(0.1)
    reader.gate.set()
    await forget
    await tracker.idle()
    assert await mongo_db[c.MOOD_READINGS].count_documents({"user_id": 5}) == 0
    assert await mongo_db[c.MOOD_READINGS].count_documents({"user_id": 6}) == 1
    assert await store.count_for_user(6) == 1
    await tracker.close()


class BrokenReader:
    def read(self, texts: Sequence[str]) -> list[EmotionReading]:
        raise RuntimeError("model file is corrupt")


class ShownToUsers:
    """The Telegram side of `MoodNotifier`, as a record of what each person was shown."""

    def __init__(self) -> None:
        self.shown: list[tuple[int, str]] = []

    async def offer_help(self, user: User, persona: Persona) -> None:
        self.shown.append((user.id, "help"))

    async def invite_survey(self, user: User, persona: Persona) -> None:
        self.shown.append((user.id, f"survey:{persona.id}"))


async def test_a_failing_classifier_stores_nothing_but_the_survey_still_comes(
    mongo_db: AsyncDatabase[dict[str, Any]],
) -> None:
    cipher = AesGcmCipher(b"k" * 32)
    store = MoodStore(mongo_db, cipher)
    settings = MoodCareSettings()
    care = MoodCare(store, settings, lambda: NOW)
    survey = SurveyService(
        mongo_db, cipher, store, SurveySettings(after_active_days=1), lambda: NOW
    )
    shown = ShownToUsers()
    metrics = MoodMetrics()
    tracker = MoodTracker(
        store=store,
        reader=BrokenReader(),
        care=care,
        survey=survey,
        settings=settings,
        clock=lambda: NOW,
        metrics=metrics,
        notifier=shown,
    )
    _say(tracker, 9, "hello")
    _say(tracker, 9, "hello again")
    await tracker.idle()
    assert shown.shown == [(9, "survey:anna")]  # once, though two messages came
    assert metrics.failed._value.get() >= 1
    assert await mongo_db[c.MOOD_READINGS].count_documents({}) == 0
    await tracker.close()
