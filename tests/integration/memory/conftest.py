"""Memory tests against real parts: SecantusDB, the packaged MiniLM model, an HTTP LLM server."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from companion.config import LLMSettings, MemorySettings
from companion.domain.models import Conversation, MessageRole, User
from companion.llm.openai_backend import OpenAIChatModel
from companion.memory.embedder import SentenceTransformerEmbedder
from companion.memory.memory_config import MemoryConfig
from companion.memory.service import MemoryService
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher
from companion.storage.messages import MessageRepository
from tests.emulators.openai_server import OpenAIEmulator


@pytest.fixture(scope="session")
async def embedder() -> AsyncIterator[SentenceTransformerEmbedder]:
    """The packaged all-MiniLM-L6-v2, loaded once for the whole run."""
    model = SentenceTransformerEmbedder("packaged-minilm")
    await model.warm_up()
    yield model
    model.close()


@dataclass
class ScriptedLLM:
    """Answers extraction and reconciliation prompts from queues the test fills."""

    extract: list[Any] = field(default_factory=list)
    reconcile: list[Any] = field(default_factory=list)

    def __call__(self, body: dict[str, Any]) -> str:
        name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        queue = self.extract if name == "memory_facts" else self.reconcile
        if not queue:
            return (
                json.dumps({"facts": []})
                if name == "memory_facts"
                else '{"action": "add", "target": null}'
            )
        answer = queue.pop(0)
        return answer if isinstance(answer, str) else json.dumps(answer)


@pytest.fixture
async def llm() -> AsyncIterator[tuple[OpenAIEmulator, ScriptedLLM]]:
    script = ScriptedLLM()
    async with OpenAIEmulator(reply=script) as emulator:
        yield emulator, script


@dataclass
class MemoryWorld:
    db: AsyncDatabase[dict[str, Any]]
    emulator: OpenAIEmulator
    script: ScriptedLLM
    service: MemoryService
    conversations: ConversationRepository
    messages: MessageRepository
    make_service: Callable[..., MemoryService]

    def user(self, user_id: int = 42, language: str = "en") -> User:
        return User(id=user_id, language=language)

    async def exchange(
        self, conversation: Conversation, user_text: str, reply: str = "I see!"
    ) -> None:
        await self.messages.append(conversation, MessageRole.USER, user_text)
        await self.messages.append(conversation, MessageRole.ASSISTANT, reply)

    def extraction_requests(self) -> list[dict[str, Any]]:
        return [
            body
            for body in self.emulator.chat_requests
            if (body.get("response_format") or {}).get("json_schema", {}).get("name")
            == "memory_facts"
        ]


@pytest.fixture
async def world(
    mongo_db: AsyncDatabase[dict[str, Any]],
    embedder: SentenceTransformerEmbedder,
    llm: tuple[OpenAIEmulator, ScriptedLLM],
) -> AsyncIterator[MemoryWorld]:
    emulator, script = llm
    cipher = AesGcmCipher(os.urandom(32))
    chat_model = OpenAIChatModel(
        LLMSettings(backend="openai", base_url=emulator.base_url, model=emulator.base_model),
        retry_backoff_s=0.0,
    )
    messages = MessageRepository(mongo_db, cipher)

    def make_service(
        config: MemoryConfig | None = None,
        observe_pass: Callable[[float, str], None] | None = None,
        **settings: Any,
    ) -> MemoryService:
        options = {"extract_every_turns": 1, **settings}
        return MemoryService.build(
            observe_pass=observe_pass,
            config=config,
            db=mongo_db,
            cipher=cipher,
            embedder=embedder,
            messages=messages,
            chat_model=chat_model,
            settings=MemorySettings(**options),
            persona_name=lambda persona_id, language: persona_id.title(),
        )

    service = make_service()
    yield MemoryWorld(
        db=mongo_db,
        emulator=emulator,
        script=script,
        service=service,
        conversations=ConversationRepository(mongo_db, cipher),
        messages=messages,
        make_service=make_service,
    )
    await service.aclose()
    await chat_model.aclose()


def fact(
    text: str,
    category: str = "other",
    importance: int = 3,
    when: str | None = None,
    sources: list[int] | None = None,
) -> dict[str, Any]:
    return {
        "text": text,
        "category": category,
        "importance": importance,
        "when": when,
        "sources": sources if sources is not None else [1],
    }


def today() -> datetime:
    return datetime.now(UTC)
