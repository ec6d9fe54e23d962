"""What long-term memory knows about a user: facts, their earlier versions, and tombstones."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field


def _now() -> datetime:
    return datetime.now(UTC)


class FactCategory(StrEnum):
    IDENTITY = "identity"  # name, age, where they are from, languages
    PEOPLE = "people"  # family, partner, friends, pets, colleagues
    PREFERENCES = "preferences"  # likes, dislikes, hobbies, tastes
    EVENTS = "events"  # things that happened or will happen, with dates
    GOALS = "goals"  # plans, wishes, what they are working towards
    HEALTH = "health"  # physical and mental health, sleep, diet
    WORK = "work"  # job, studies, projects, colleagues as work context
    PLACES = "places"  # where they live, travel, places that matter
    OTHER = "other"


class FactVersion(BaseModel):
    """An earlier text of a fact, kept when an update replaced it."""

    text: str
    replaced_at: datetime
    reason: str = ""


class Fact(BaseModel):
    id: str
    user_id: int
    text: str  # a self-contained third-person statement in the user's language
    category: FactCategory = FactCategory.OTHER
    importance: int = Field(default=3, ge=1, le=5)
    refers_to: date | None = None  # the date the fact is about (an event's day), if any
    source_message_ids: list[str] = Field(default_factory=list)
    persona_id: str | None = None  # the dialogue it was learnt in
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    history: list[FactVersion] = Field(default_factory=list)


class Episode(BaseModel):
    """One stored exchange (a user message and the reply to it), embedded for recall."""

    id: str  # the id of the user message that opened the exchange
    user_id: int
    persona_id: str
    conversation_id: str
    seq: int  # seq of the user message
    user_text: str
    reply_text: str = ""
    created_at: datetime

    @property
    def search_text(self) -> str:
        return f"{self.user_text}\n{self.reply_text}".strip()

    @property
    def user_chars(self) -> int:
        """How many characters of `search_text` are the user's own message."""
        return len(self.user_text.strip())
