"""Records the service stores, as pydantic models: Mongo documents never leave the repositories."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageStatus(StrEnum):
    COMPLETE = "complete"
    # A reply whose generation failed part-way: kept for audit, never used as history.
    INTERRUPTED = "interrupted"


class MessageSource(StrEnum):
    TEXT = "text"
    VOICE = "voice"
    SYSTEM = "system"  # greetings, disclaimers, crisis replies


class MessageRole(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"


class UserSettings(BaseModel):
    echo_transcripts: bool = False
    # IANA zone ("Europe/Moscow") for time-of-day texts; None: inferred from the language
    # (companion.personas.dayparts).
    timezone: str | None = None
    # The owner's news broadcasts (/news off opts out; companion.broadcasts).
    news: bool = True
    # Proactive check-ins written by the persona (/checkins off; companion.outreach).
    checkins: bool = True
    # An emotion reading of each message, for /mood and the persona's care (/mood off).
    mood_tracking: bool = True
    # The persona answers with a voice note as well as text (/voice on), besides when the
    # user sent a voice note.
    voice_replies: bool = False


class User(BaseModel):
    id: int  # Telegram user id; the terminal chat uses its own ids
    language: str = "ru"
    first_name: str | None = None
    username: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    consent_at: datetime | None = None
    adult_confirmed_at: datetime | None = None
    offer_accepted_at: datetime | None = None
    support_disclaimer_shown_at: datetime | None = None
    current_persona_id: str | None = None
    settings: UserSettings = Field(default_factory=UserSettings)
    # Contact for 54-FZ receipts, asked once when the shop needs receipts.
    receipt_contact: str | None = None
    # When sending to this user last failed with "bot was blocked by the user" (403); cleared
    # when they write again. Broadcasts and check-ins skip blocked users.
    blocked_at: datetime | None = None

    @property
    def has_consented(self) -> bool:
        return self.consent_at is not None

    @property
    def is_adult_confirmed(self) -> bool:
        return self.adult_confirmed_at is not None


class Conversation(BaseModel):
    id: str
    user_id: int
    persona_id: str
    started_at: datetime = Field(default_factory=utcnow)
    # Last activity, to within `messages._TOUCH_EVERY_S` (written behind by the message store).
    updated_at: datetime = Field(default_factory=utcnow)
    active: bool = True
    # Rolling summary of turns older than `summary_upto_seq` (inclusive).
    summary: str = ""
    summary_upto_seq: int = 0
    # Near the seq of the newest message (0: none yet): where reading the tail starts. Written
    # behind by `MessageRepository.append`, so newer messages may exist; never ahead of them.
    last_seq: int = 0


class Message(BaseModel):
    id: str
    conversation_id: str
    user_id: int
    persona_id: str
    seq: int  # strictly increasing within a conversation
    role: MessageRole
    text: str
    source: MessageSource = MessageSource.TEXT
    status: MessageStatus = MessageStatus.COMPLETE
    created_at: datetime = Field(default_factory=utcnow)
    meta: dict[str, Any] = Field(default_factory=dict)


class SubscriptionStatus(StrEnum):
    NONE = "none"
    PENDING = "pending"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"  # cancelled at period end: active until current_period_end
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Subscription(BaseModel):
    user_id: int
    plan_id: str
    status: SubscriptionStatus
    current_period_end: datetime | None = None
    grace_until: datetime | None = None
    auto_renew: bool = False
    provider: str | None = None
    payment_method_id: str | None = None
    updated_at: datetime = Field(default_factory=utcnow)

    def grants_pro(self, now: datetime) -> bool:
        if self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED):
            return self.current_period_end is not None and self.current_period_end > now
        if self.status is SubscriptionStatus.PAST_DUE:
            return self.grace_until is not None and self.grace_until > now
        return False


class EventName(StrEnum):
    START = "start"
    CONSENT = "consent"
    PERSONA_CHOSEN = "persona_chosen"
    FIRST_MESSAGE = "first_message"
    # The 10th message of a conversation: the onboarding funnel's last step (companion.analytics).
    TENTH_MESSAGE = "tenth_message"
    PAYWALL_SHOWN = "paywall_shown"
    OFFER_ACCEPTED = "offer_accepted"
    PAYMENT_CREATED = "payment_created"
    PAID = "paid"
    RENEWED = "renewed"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    CRISIS = "crisis"


class Event(BaseModel):
    user_id: int
    name: str
    at: datetime = Field(default_factory=utcnow)
    data: dict[str, Any] = Field(default_factory=dict)
