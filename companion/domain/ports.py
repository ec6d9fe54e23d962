"""What the services need from each other, as small protocols: one per concept.

Storage, personas, memory, billing and the dialogue service implement these; the services
take them as constructor arguments, so tests can pass real adapters or honest fakes and no
service package imports another's implementation.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from companion.domain.models import (
    Conversation,
    Event,
    Message,
    MessageRole,
    MessageSource,
    MessageStatus,
    User,
)
from companion.domain.personas import GalleryImage, Module, Persona


class UserStore(Protocol):
    async def get(self, user_id: int) -> User | None: ...
    async def upsert(self, user: User) -> User: ...
    async def update(self, user_id: int, **fields: object) -> User | None: ...


class ConversationStore(Protocol):
    async def get_active(self, user_id: int, persona_id: str) -> Conversation | None: ...
    async def start(self, user_id: int, persona_id: str) -> Conversation:
        """Deactivate any active conversation for (user, persona) and open a new one."""
        ...

    async def save_summary(self, conversation_id: str, summary: str, upto_seq: int) -> None: ...


class MessageHistory(Protocol):
    """The reading part of the message store (what memory extraction needs)."""

    async def recent(
        self, conversation_id: str, limit: int, *, after_seq: int = 0
    ) -> list[Message]: ...


class MessageStore(MessageHistory, Protocol):
    async def append(
        self,
        conversation: Conversation,
        role: MessageRole,
        text: str,
        *,
        source: MessageSource = MessageSource.TEXT,
        status: MessageStatus = MessageStatus.COMPLETE,
        meta: dict[str, object] | None = None,
        seq: int | None = None,
    ) -> Message:
        """Store one message with the next sequence number of its conversation (or ``seq``,
        one that `reserve` returned)."""
        ...

    async def reserve(self, conversation: Conversation, count: int) -> int:
        """Claim ``count`` consecutive sequence numbers at once; returns the first."""
        ...

    async def recent(
        self,
        conversation_id: str,
        limit: int,
        *,
        after_seq: int = 0,
        last_seq: int | None = None,
    ) -> list[Message]:
        """The last `limit` complete messages with seq > after_seq, oldest first.

        ``last_seq``: the conversation's last seq if the caller has just read it.
        """
        ...


class EventSink(Protocol):
    async def record(self, event: Event) -> None: ...


class PersonaCatalog(Protocol):
    """`companion.personas.repository.PersonaRepository`."""

    def all(self, language: str | None = None, module: Module | None = None) -> list[Persona]: ...
    def get(self, persona_id: str) -> Persona | None: ...
    def image_path(self, persona: Persona, image: GalleryImage) -> Path: ...


class UserLocks(Protocol):
    """Per-user ordering (`companion.dialogs.ordering`): one turn of a user at a time."""

    def hold(self, user_id: int) -> AbstractAsyncContextManager[None]: ...


class AccessDecision(StrEnum):
    ALLOWED = "allowed"
    NEEDS_PRO = "needs_pro"
    NEEDS_ADULT_CONFIRMATION = "needs_adult_confirmation"


class Entitlements(Protocol):
    async def check(self, user: User, persona: Persona) -> AccessDecision: ...


class Recollection(BaseModel):
    """What long-term memory brings to one reply."""

    facts: list[str] = Field(default_factory=list)
    episodes: list[str] = Field(default_factory=list)


class MemoryRecall(Protocol):
    async def recall(
        self, user: User, persona: Persona, query: str, recent: Sequence[Message]
    ) -> Recollection: ...


class MemoryWriter(Protocol):
    def schedule_extraction(self, user: User, conversation: Conversation) -> None:
        """Extract facts from the latest exchange in the background; never blocks the reply."""
        ...


class MessageObserver(Protocol):
    """Told about each user message once its reply is stored (mood tracking, the survey);
    must return at once: whatever it does runs in the background, off the reply's path."""

    def observe(
        self, user: User, persona: Persona, conversation: Conversation, text: str
    ) -> None: ...


class MoodCareSource(Protocol):
    """Whether the persona should show care this turn: True while the user's recent days are
    mostly negative (`companion.mood.care`). Fast (cached); False when tracking is off."""

    async def needs_care(self, user: User) -> bool: ...


class SendOutcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"  # 403 "bot was blocked by the user": never retried
    FAILED = "failed"  # Telegram refused it (429, 400, 5xx): not delivered, may be retried


class CheckinSender(Protocol):
    """Delivers a proactive check-in (`companion.bot.checkin_sender` over the Bot API)."""

    async def send(self, user_id: int, text: str) -> SendOutcome: ...


class DatedFact(Protocol):
    """A remembered fact as check-ins read it (`companion.memory.facts.Fact` has these)."""

    @property
    def id(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def refers_to(self) -> date | None: ...
    @property
    def persona_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


class FactSource(Protocol):
    """The user's remembered facts (`companion.memory.service.MemoryService`)."""

    async def list_facts(self, user_id: int) -> Sequence[DatedFact]: ...
    async def get_fact(self, user_id: int, fact_id: str) -> DatedFact | None: ...


class PaymentLine(BaseModel):
    """One payment as the owner's console shows it (`companion.billing.history`): what, how
    much, where it stands; never card data or receipts."""

    reference: str  # our order id: what /refund and the console's refund take
    provider: str
    plan_id: str
    kind: str  # initial | renewal
    amount: str  # as a decimal string, with `currency`
    currency: str
    status: str
    created_at: datetime
    paid_at: datetime | None = None
    refunded_amount: str = "0"
    refundable: bool = False  # succeeded and not fully refunded


class PaymentHistory(Protocol):
    """A person's payments, newest first (`companion.billing.history.LedgerHistory`)."""

    async def payments_of(self, user_id: int, limit: int = 10) -> list[PaymentLine]: ...
