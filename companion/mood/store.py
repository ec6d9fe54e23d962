"""Where mood lives in MongoDB: one reading per user message, and a small state per user.

A reading keeps its day (in the user's time zone), persona, module and conversation in the
clear: the daily series and the owner's anonymous aggregates group by them. What the message
felt like (labels and scores) is sealed with the field cipher, like message texts, so the
database alone does not tell how anyone feels. Both collections are in
`collections.USER_DATA_FIELDS`: /export lists them, /forget deletes them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from companion.mood.emotions import Emotion, EmotionReading
from companion.storage import collections as c
from companion.storage.crypto import DecryptionError, FieldCipher
from companion.storage.documents import new_id
from companion.storage.sealing import seal, unseal

Document = dict[str, Any]
_SEALED = ("reading",)
# (messages, negative, joyful) of one day.
DayCounts = tuple[int, int, int]
_VERSION_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class StoredReading:
    user_id: int
    at: datetime
    day: str  # ISO date in the user's zone when the message was written
    persona_id: str
    module: str
    conversation_id: str
    reading: EmotionReading


@dataclass(frozen=True, slots=True)
class MoodState:
    """Per user: how many distinct days they wrote on, and when things were last shown."""

    active_days: int = 0
    last_day: str | None = None
    survey_shown_at: datetime | None = None
    help_offered_at: datetime | None = None


def _reading_json(reading: EmotionReading) -> str:
    return json.dumps(
        {
            "labels": sorted(label.value for label in reading.labels),
            "scores": {label.value: round(score, 4) for label, score in reading.scores.items()},
        },
        sort_keys=True,
    )


def _parse_reading(text: str) -> EmotionReading:
    data = json.loads(text)
    known = {emotion.value for emotion in Emotion}
    labels = frozenset(Emotion(label) for label in data.get("labels", []) if label in known)
    scores = {Emotion(k): float(v) for k, v in data.get("scores", {}).items() if k in known}
    return EmotionReading(labels=labels or frozenset({Emotion.NONE}), scores=scores)


class MoodStore:
    def __init__(self, db: AsyncDatabase[Document], cipher: FieldCipher) -> None:
        self._readings = db[c.MOOD_READINGS]
        self._state = db[c.MOOD_STATE]
        self._cipher = cipher

    # -- readings ---------------------------------------------------------------------------

    async def add_many(self, readings: Sequence[StoredReading]) -> None:
        if not readings:
            return
        documents = [
            seal(
                {
                    "_id": new_id(),
                    "user_id": r.user_id,
                    "at": r.at,
                    "day": r.day,
                    "persona_id": r.persona_id,
                    "module": r.module,
                    "conversation_id": r.conversation_id,
                    "reading": _reading_json(r.reading),
                },
                _SEALED,
                self._cipher,
            )
            for r in readings
        ]
        await self._readings.insert_many(documents, ordered=False)

    async def for_user(self, user_id: int, since: datetime) -> list[StoredReading]:
        cursor = self._readings.find({"user_id": user_id, "at": {"$gte": since}}).sort(
            "at", ASCENDING
        )
        return [r async for r in self._open_all(cursor)]

    async def between(self, since: datetime, until: datetime) -> AsyncIterator[StoredReading]:
        """Every reading in [since, until), for the owner's aggregates."""
        cursor = self._readings.find({"at": {"$gte": since, "$lt": until}}).sort("at", ASCENDING)
        async for reading in self._open_all(cursor):
            yield reading

    async def count_for_user(self, user_id: int) -> int:
        return await self._readings.count_documents({"user_id": user_id})

    async def delete_user(self, user_id: int) -> int:
        """/mood clear: the readings go; the state (survey timing) stays."""
        result = await self._readings.delete_many({"user_id": user_id})
        return result.deleted_count

    async def _open_all(self, cursor: Any) -> AsyncIterator[StoredReading]:
        async for document in cursor:
            try:
                opened = unseal(document, _SEALED, self._cipher)
            except DecryptionError:
                continue  # unreadable with the current key: left out, not guessed
            yield StoredReading(
                user_id=int(opened["user_id"]),
                at=opened["at"],
                day=str(opened["day"]),
                persona_id=str(opened.get("persona_id", "")),
                module=str(opened.get("module", "")),
                conversation_id=str(opened.get("conversation_id", "")),
                reading=_parse_reading(opened["reading"]),
            )

    # -- per-user state ---------------------------------------------------------------------

    async def state(self, user_id: int) -> MoodState:
        document = await self._state.find_one({"_id": user_id})
        return _state(document)

    async def add_day_counts(
        self, user_id: int, increments: dict[str, DayCounts], keep_from: str
    ) -> dict[str, DayCounts]:
        """Add (messages, negative, joyful) per day to the user's recent days, drop days before
        `keep_from`, and return the result. Sealed (how someone felt, day by day); written with
        a version check, so two workers adding at once both count."""
        for _ in range(_VERSION_ATTEMPTS):
            document = await self._state.find_one({"_id": user_id}, {"days": 1, "days_v": 1})
            version = (document or {}).get("days_v")
            days = self._open_days(document)
            for day, (messages, negative, joyful) in increments.items():
                old = days.get(day, (0, 0, 0))
                days[day] = (old[0] + messages, old[1] + negative, old[2] + joyful)
            days = {day: counts for day, counts in sorted(days.items()) if day >= keep_from}
            sealed = seal({"days": json.dumps(days, sort_keys=True)}, ("days",), self._cipher)
            update = {"$set": {"days": sealed["days"], "days_v": (version or 0) + 1}}
            try:
                if document is None:
                    await self._state.insert_one({"_id": user_id, **update["$set"]})
                    return days
                check = {"$exists": False} if version is None else version
                result = await self._state.update_one({"_id": user_id, "days_v": check}, update)
                if result.modified_count == 1:
                    return days
            except DuplicateKeyError:
                pass  # another worker created it first: read it again
        raise RuntimeError("mood state kept changing under the update")  # pragma: no cover

    async def day_counts(self, user_id: int) -> dict[str, DayCounts]:
        """The user's recent days as `add_day_counts` keeps them."""
        return self._open_days(await self._state.find_one({"_id": user_id}, {"days": 1}))

    async def clear_day_counts(self, user_id: int) -> None:
        await self._state.update_one({"_id": user_id}, {"$unset": {"days": ""}})

    def _open_days(self, document: Document | None) -> dict[str, DayCounts]:
        if document is None or document.get("days") is None:
            return {}
        try:
            raw = json.loads(unseal(document, ("days",), self._cipher)["days"])
        except DecryptionError:
            return {}
        return {str(day): (int(c[0]), int(c[1]), int(c[2])) for day, c in raw.items()}

    async def delete_state(self, user_id: int) -> None:
        await self._state.delete_one({"_id": user_id})

    async def note_day(self, user_id: int, day: str) -> MoodState:
        """Count `day` as a day with messages (once); returns the state after."""
        document = await self._state.find_one_and_update(
            {"_id": user_id, "last_day": {"$ne": day}},
            {"$set": {"last_day": day}, "$inc": {"active_days": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            # Either the day is counted already, or there is no state yet.
            document = await self._state.find_one({"_id": user_id})
            if document is None:
                await self._state.update_one(
                    {"_id": user_id},
                    {"$setOnInsert": {"last_day": day, "active_days": 1}},
                    upsert=True,
                )
                document = await self._state.find_one({"_id": user_id})
        return _state(document)

    async def claim(
        self,
        user_id: int,
        field: str,
        now: datetime,
        not_since: datetime,
        also: dict[str, object] | None = None,
    ) -> bool:
        """Set `field` (survey_shown_at, help_offered_at) to `now` unless it is already at or
        after `not_since`; True when this call claimed it (one worker shows it, once). `also`:
        more fields set by the same write."""
        result = await self._state.update_one(
            {
                "_id": user_id,
                "$or": [{field: None}, {field: {"$exists": False}}, {field: {"$lt": not_since}}],
            },
            {"$set": {field: now, **(also or {})}},
        )
        return result.modified_count == 1

    async def close_survey(self, user_id: int, persona_id: str) -> bool:
        """Take the open survey about `persona_id` (one answer per invitation); False when
        none is open (answered already, or never shown)."""
        result = await self._state.update_one(
            {"_id": user_id, "survey_open": persona_id}, {"$unset": {"survey_open": ""}}
        )
        return result.modified_count == 1


def _state(document: Document | None) -> MoodState:
    if document is None:
        return MoodState()
    return MoodState(
        active_days=int(document.get("active_days", 0)),
        last_day=document.get("last_day"),
        survey_shown_at=document.get("survey_shown_at"),
        help_offered_at=document.get("help_offered_at"),
    )
