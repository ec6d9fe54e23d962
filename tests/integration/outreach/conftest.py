"""Check-ins against real parts: SecantusDB (MongoDB wire), the OpenAI-compatible emulator as
the model, personas from YAML files; a hand-moved clock and a recording Bot API stand-in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from companion.billing.entitlements import EntitlementService
from companion.billing.plans import PlanCatalog
from companion.config import BillingSettings, LLMSettings, OutreachSettings
from companion.dialogs.ordering import LocalUserLocks
from companion.domain.models import User
from companion.domain.ports import SendOutcome
from companion.i18n import Translator
from companion.llm.openai_backend import OpenAIChatModel
from companion.outreach.crisis import CrisisEvents
from companion.outreach.metrics import OutreachMetrics
from companion.outreach.scheduler import CheckinScheduler
from companion.outreach.service import OutreachService
from companion.outreach.store import JobStore
from companion.outreach.writer import CheckinWriter
from companion.personas.repository import PersonaRepository
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher
from companion.storage.events import EventRepository
from companion.storage.indexes import ensure_indexes
from companion.storage.messages import MessageRepository
from companion.storage.subscriptions import SubscriptionRepository
from companion.storage.users import UserRepository
from tests.e2e.bot.conftest import write_personas
from tests.emulators.openai_server import OpenAIEmulator

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 12:00 in Moscow


class ManualClock:
    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class RecordingSender:
    """Stands in for the Bot API: records what would be delivered; `blocked` answer 403."""

    sent: list[tuple[int, str]] = field(default_factory=list)
    blocked: set[int] = field(default_factory=set)
    # Answers to give before delivering: FAILED (Telegram refused) or an exception (no answer).
    failures: list[SendOutcome | Exception] = field(default_factory=list)

    async def send(self, user_id: int, text: str) -> SendOutcome:
        if user_id in self.blocked:
            return SendOutcome.BLOCKED
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        self.sent.append((user_id, text))
        return SendOutcome.SENT


@dataclass(frozen=True)
class StoredFact:
    id: str
    text: str
    refers_to: date | None
    persona_id: str | None
    created_at: datetime


@dataclass
class Facts:
    by_user: dict[int, list[StoredFact]] = field(default_factory=dict)

    async def list_facts(self, user_id: int) -> list[StoredFact]:
        return self.by_user.get(user_id, [])

    async def get_fact(self, user_id: int, fact_id: str) -> StoredFact | None:
        return next((f for f in self.by_user.get(user_id, []) if f.id == fact_id), None)


@dataclass
class World:
    db: AsyncDatabase[dict[str, Any]]
    clock: ManualClock
    facts: Facts
    users: UserRepository
    conversations: ConversationRepository
    messages: MessageRepository
    events: EventRepository
    make_worker: Any

    async def person(self, user_id: int, persona_id: str = "anna", **fields: Any) -> User:
        user = User(
            id=user_id,
            language="en",
            consent_at=START - timedelta(days=30),
            current_persona_id=persona_id,
            **fields,
        )
        await self.users.upsert(user)
        await self.conversations.start(user_id, persona_id)
        return user

    def exam(
        self, user_id: int, on: date = date(2026, 12, 7), fact_id: str | None = None
    ) -> StoredFact:
        fact = StoredFact(
            fact_id or f"f{user_id}",
            "The user has an exam",
            on,
            "anna",
            START - timedelta(days=1),
        )
        self.facts.by_user.setdefault(user_id, []).append(fact)
        return fact


@pytest.fixture
async def llm() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(reply="Hey! How did the exam go?") as emulator:
        yield emulator


@pytest.fixture
async def world(
    mongo_db: AsyncDatabase[dict[str, Any]],
    mongo_uri: str,
    llm: OpenAIEmulator,
    tmp_path: Path,
) -> AsyncIterator[World]:
    await ensure_indexes(mongo_db)
    write_personas(tmp_path / "personas")
    personas = PersonaRepository(tmp_path / "personas")
    personas.load_all()
    clock, facts = ManualClock(), Facts()
    cipher = AesGcmCipher(os.urandom(32))
    closing: list[MessageRepository] = []
    clients: list[AsyncMongoClient[dict[str, Any]]] = []
    models: list[OpenAIChatModel] = []

    def make_worker(
        settings: OutreachSettings | None = None,
    ) -> tuple[CheckinScheduler, RecordingSender, JobStore]:
        """One bot worker: its own database connection, model client and sender."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        clients.append(client)
        db = client[mongo_db.name]
        model = OpenAIChatModel(
            LLMSettings(backend="openai", base_url=llm.base_url, model=llm.base_model),
            retry_backoff_s=0.0,
        )
        models.append(model)
        store = JobStore(db)
        messages = MessageRepository(db, cipher)
        closing.append(messages)
        service = OutreachService(
            store=store,
            users=UserRepository(db, cipher),
            personas=personas,
            conversations=ConversationRepository(db, cipher),
            messages=messages,
            crisis=CrisisEvents(db),
            locks=LocalUserLocks(),
            writer=CheckinWriter(model, Translator()),
            settings=settings or OutreachSettings(max_per_week=10),
            clock=clock,
            metrics=OutreachMetrics(),
            facts=facts,
            # Real billing rules: a PRO persona needs an active subscription.
            entitlements=EntitlementService(
                SubscriptionRepository(db, cipher), None, PlanCatalog(BillingSettings().plans)
            ),
            plan_delay_s=150,
        )
        sender = RecordingSender()
        service.sender = sender
        return CheckinScheduler(service, interval_s=0.05), sender, store

    shared_messages = MessageRepository(mongo_db, cipher)
    closing.append(shared_messages)
    yield World(
        db=mongo_db,
        clock=clock,
        facts=facts,
        users=UserRepository(mongo_db, cipher),
        conversations=ConversationRepository(mongo_db, cipher),
        messages=shared_messages,
        events=EventRepository(mongo_db),
        make_worker=make_worker,
    )
    for repository in closing:
        await repository.aclose()
    for model in models:
        await model.aclose()
    for client in clients:
        await client.close()
