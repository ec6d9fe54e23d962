"""The dialogue service over real storage (SecantusDB) and a vLLM-like HTTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from companion.config import LLMSettings
from companion.dialogs.ordering import LocalUserLocks
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogLimits, DialogService
from companion.domain.models import User
from companion.domain.personas import GalleryImage, Persona
from companion.domain.ports import AccessDecision
from companion.i18n import Translator
from companion.llm.openai_backend import OpenAIChatModel
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import PlaintextCipher
from companion.storage.events import EventRepository
from companion.storage.messages import MessageRepository
from companion.storage.users import UserRepository
from tests.emulators.openai_server import OpenAIEmulator
from tests.unit.dialogs.persona_factory import make_persona


class DictCatalog:
    """A read-only persona catalog over a dict (the YAML repository is tested on its own)."""

    def __init__(self, *personas: Persona) -> None:
        self.personas = {p.id: p for p in personas}

    def get(self, persona_id: str) -> Persona | None:
        return self.personas.get(persona_id)

    def image_path(self, persona: Persona, image: GalleryImage) -> Path:
        return Path("/library") / persona.id / image.file


@dataclass
class RuleEntitlements:
    """PRO is a set of user ids; 18+ comes from the user record (billing tests the real one)."""

    pro_users: set[int] = field(default_factory=set)

    async def check(self, user: User, persona: Persona) -> AccessDecision:
        if persona.pro_only and user.id not in self.pro_users:
            return AccessDecision.NEEDS_PRO
        if persona.adult and not user.is_adult_confirmed:
            return AccessDecision.NEEDS_ADULT_CONFIRMATION
        return AccessDecision.ALLOWED


@dataclass
class Harness:
    service: DialogService
    emulator: OpenAIEmulator
    users: UserRepository
    conversations: ConversationRepository
    messages: MessageRepository
    events: EventRepository
    entitlements: RuleEntitlements
    catalog: DictCatalog
    db: Any

    async def user(self, user_id: int = 1, **fields: Any) -> User:
        values: dict[str, Any] = {"language": "en", "consent_at": datetime.now(UTC), **fields}
        return await self.users.upsert(User(id=user_id, **values))


@pytest.fixture
async def openai_emulator() -> AsyncIterator[OpenAIEmulator]:
    async with OpenAIEmulator(adapters={"kylie-lora"}) as emu:
        yield emu


def build_harness(db: Any, emulator: OpenAIEmulator, limits: DialogLimits | None = None) -> Harness:
    cipher = PlaintextCipher()
    users = UserRepository(db)
    conversations = ConversationRepository(db, cipher)
    messages = MessageRepository(db, cipher)
    events = EventRepository(db)
    entitlements = RuleEntitlements()
    catalog = DictCatalog(
        make_persona(),
        make_persona(id="tom", module="practice", lora_adapter="kylie-lora"),
        make_persona(
            id="kylie", module="partner", pro_only=True, adult=True, lora_adapter="kylie-lora"
        ),
    )
    llm = OpenAIChatModel(
        LLMSettings(
            backend="openai",
            base_url=emulator.base_url,
            model=emulator.base_model,
            max_retries=0,
            connect_timeout_s=1,
            request_timeout_s=10,
        )
    )
    service = DialogService(
        personas=catalog,
        users=users,
        conversations=conversations,
        messages=messages,
        llm=llm,
        prompts=PromptBuilder(),
        entitlements=entitlements,
        events=events,
        locks=LocalUserLocks(),
        texts=Translator(),
        limits=limits,
    )
    return Harness(
        service, emulator, users, conversations, messages, events, entitlements, catalog, db
    )


@pytest.fixture
async def harness(mongo_db: Any, openai_emulator: OpenAIEmulator) -> Harness:
    return build_harness(mongo_db, openai_emulator)
