"""The 1-10 satisfaction survey: when it is shown, and its answers.

Shown once the person has written on `after_active_days` distinct days, then at most once per
`every_days` (a skip counts as shown), about the persona they were talking to. The answer is a
score, optionally followed by a comment (sealed at rest, as it may say anything).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from companion.config import SurveySettings
from companion.domain.models import User
from companion.domain.personas import Persona
from companion.mood.store import MoodState, MoodStore
from companion.storage import collections as c
from companion.storage.crypto import FieldCipher
from companion.storage.documents import new_id
from companion.storage.sealing import seal

SURVEY_SHOWN = "survey_shown_at"
MAX_COMMENT_CHARS = 1000


class InvalidSurveyAnswerError(ValueError):
    """A score outside 1-10, or an empty comment."""


class SurveyClosedError(InvalidSurveyAnswerError):
    """No survey about this persona is waiting for an answer (answered already)."""


@dataclass(frozen=True, slots=True)
class SurveyResponse:
    """One answer; `score` None: the person skipped the survey."""

    persona_id: str
    module: str
    score: int | None
    at: datetime
    has_comment: bool = False


class SurveyService:
    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        cipher: FieldCipher,
        store: MoodStore,
        settings: SurveySettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._responses = db[c.SURVEY_RESPONSES]
        self._cipher = cipher
        self._store = store
        self._settings = settings
        self._clock = clock

    @property
    def settings(self) -> SurveySettings:
        return self._settings

    async def count_day(self, user: User, day: str) -> MoodState:
        """Count `day` (ISO, the user's zone) as a day with messages, once."""
        return await self._store.note_day(user.id, day)

    async def claim_if_due(self, user: User, state: MoodState, persona: Persona) -> bool:
        """True when the survey is due now; then it is marked shown and open for one answer
        about `persona` (atomically: one worker shows it, once)."""
        if not self._settings.enabled or state.active_days < self._settings.after_active_days:
            return False
        now = self._clock()
        not_since = now - timedelta(days=self._settings.every_days)
        if state.survey_shown_at is not None and state.survey_shown_at >= not_since:
            return False  # known from the state: no round trip
        return await self._store.claim(
            user.id, SURVEY_SHOWN, now, not_since, also={"survey_open": persona.id}
        )

    async def answer(self, user: User, persona: Persona, score: int) -> str:
        """Store a score; returns the answer's id (for the comment that may follow)."""
        if not 1 <= score <= 10:
            raise InvalidSurveyAnswerError(f"score {score} is outside 1-10")
        await self._close(user, persona)
        return await self._insert(user, persona, score)

    async def skip(self, user: User, persona: Persona) -> None:
        await self._close(user, persona)
        await self._insert(user, persona, None)

    async def _close(self, user: User, persona: Persona) -> None:
        # A second tap, an old message's buttons or a forged button: not a second answer.
        if not await self._store.close_survey(user.id, persona.id):
            raise SurveyClosedError(persona.id)

    async def comment(self, user_id: int, response_id: str, text: str) -> bool:
        text = text.strip()
        if not text:
            raise InvalidSurveyAnswerError("empty comment")
        document = seal({"comment": text[:MAX_COMMENT_CHARS]}, ("comment",), self._cipher)
        result = await self._responses.update_one(
            {"_id": response_id, "user_id": user_id}, {"$set": document}
        )
        return result.matched_count == 1

    async def between(self, since: datetime, until: datetime) -> AsyncIterator[SurveyResponse]:
        cursor = self._responses.find({"at": {"$gte": since, "$lt": until}}).sort("at", ASCENDING)
        async for doc in cursor:
            yield SurveyResponse(
                persona_id=str(doc.get("persona_id", "")),
                module=str(doc.get("module", "")),
                score=doc.get("score"),
                at=doc["at"],
                has_comment=doc.get("comment") is not None,
            )

    async def _insert(self, user: User, persona: Persona, score: int | None) -> str:
        response_id = new_id()
        await self._responses.insert_one(
            {
                "_id": response_id,
                "user_id": user.id,
                "persona_id": persona.id,
                "module": persona.module.value,
                "score": score,
                "at": self._clock(),
            }
        )
        return response_id
