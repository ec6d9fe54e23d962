"""Mood as the composition root (`companion.app.build_app`) assembles it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase

from companion.config import Settings
from companion.domain.ports import UserStore
from companion.mood.care import MoodCare
from companion.mood.classifier import EmotionModelError, load_emotion_reader
from companion.mood.emotions import EmotionReader
from companion.mood.reports import MoodReports
from companion.mood.sentence_head import QueryVectors, blended_reader
from companion.mood.service import MoodService
from companion.mood.store import MoodStore
from companion.mood.survey import SurveyService
from companion.mood.tracker import MoodMetrics, MoodTracker
from companion.storage.crypto import FieldCipher

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class HasRegistry(Protocol):
    """`companion.metrics.Metrics`, as far as mood needs it."""

    @property
    def registry(self) -> CollectorRegistry: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class MoodComponents:
    store: MoodStore
    care: MoodCare
    survey: SurveyService
    tracker: MoodTracker
    service: MoodService
    reports: MoodReports


def load_reader(settings: Settings, vectors: QueryVectors | None = None) -> EmotionReader | None:
    """The emotion classifier (`settings.mood`), or None when it is switched off or cannot be
    loaded: then nothing is read, and the rest (survey, /mood of what was read) still works.

    `vectors` (the memory embedder, None when memory is off) lets the sentence head blend in
    the vector memory recall computed for the message; without them, or with an embedder
    the head was not trained on, the text model reads alone."""
    try:
        text_model = load_emotion_reader(settings)
    except EmotionModelError as exc:
        log.warning("mood: no emotion classifier, messages are not read (%s)", exc)
        return None
    if text_model is None:
        return None
    try:
        return blended_reader(text_model, settings.mood.sentence_head, vectors)
    except EmotionModelError as exc:
        log.warning("mood: no sentence head, the text model reads alone (%s)", exc)
        return text_model


def build_mood(
    settings: Settings,
    stack: AsyncExitStack,
    db: AsyncDatabase[dict[str, Any]],
    cipher: FieldCipher,
    users: UserStore,
    reader: EmotionReader | None,
    clock: Clock | None,
    metrics: HasRegistry,
) -> MoodComponents:
    """Everything mood; the reader's queue is drained when `stack` closes (push this after
    the database, so it closes before it)."""
    clock = clock or _utc_now
    registry = metrics.registry
    store = MoodStore(db, cipher)
    care = MoodCare(store, settings.mood_care, clock)
    survey = SurveyService(db, cipher, store, settings.survey, clock)
    tracker = MoodTracker(
        store=store,
        reader=reader,
        care=care,
        survey=survey,
        settings=settings.mood_care,
        clock=clock,
        metrics=MoodMetrics(registry),
    )
    service = MoodService(store, care, users, chart_days=settings.mood_care.chart_days)
    reports = MoodReports(
        store, survey, min_group_users=settings.mood_care.min_group_users, clock=clock
    )
    stack.push_async_callback(tracker.close)
    return MoodComponents(store, care, survey, tracker, service, reports)
