"""Building the memory service for the composition root (companion.app.build_app)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack

from companion.config import Settings
from companion.llm.base import ChatModel
from companion.memory.embedder import build_embedder
from companion.memory.service import MemoryService
from companion.personas.repository import PersonaRepository
from companion.storage.crypto import FieldCipher
from companion.storage.database import Database
from companion.storage.messages import MessageRepository


def build_memory(
    settings: Settings,
    stack: AsyncExitStack,
    database: Database,
    cipher: FieldCipher,
    messages: MessageRepository,
    llm: ChatModel,
    personas: PersonaRepository,
    observe_pass: Callable[[float, str], None] | None = None,
) -> MemoryService | None:
    """The memory service over the database and the model, or None when memory is off; its
    embedder and pending extractions are closed by `stack`."""
    if not settings.memory.enabled:
        return None
    embedder = build_embedder(
        settings.memory.embedding_model,
        query_prefix=settings.memory.query_prefix,
        passage_prefix=settings.memory.passage_prefix,
        batch_size=settings.memory.embedding_batch_size,
        # One torch thread: embeddings are small batches and the event loop, Whisper
        # and the LLM share these cores.
        threads=1,
    )
    stack.callback(embedder.close)

    def persona_name(persona_id: str, language: str) -> str:
        persona = personas.get(persona_id)
        return persona.display_name(language) if persona else persona_id

    memory = MemoryService.build(
        db=database.db,
        cipher=cipher,
        embedder=embedder,
        messages=messages,
        chat_model=llm,
        settings=settings.memory,
        count_tokens=llm.count_tokens,
        persona_name=persona_name,
        observe_pass=observe_pass,
    )
    # Drains pending extractions first, so nothing the user said is lost on shutdown.
    stack.push_async_callback(memory.aclose)
    return memory
