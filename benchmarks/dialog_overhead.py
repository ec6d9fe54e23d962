"""The dialogue service's own cost per turn, with real storage and with storage disabled.

2000 turns (by default) go through `DialogService.reply` against an OpenAI-compatible server
that answers at once (the vLLM emulator from tests/), so what is measured is the service's
own work: validation, locks, history, prompt building, the HTTP round trip to the model
server, storing both turns. The baseline in the same run replaces MongoDB with in-memory
stores, so the difference is what storage costs.

    .venv/bin/python benchmarks/dialog_overhead.py [--turns 2000] [--users 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pymongo import AsyncMongoClient

from companion.config import LLMSettings
from companion.dialogs.ordering import LocalUserLocks
from companion.dialogs.prompts import PromptBuilder
from companion.dialogs.service import DialogService
from companion.domain.models import (
    Conversation,
    Event,
    Message,
    MessageRole,
    MessageSource,
    MessageStatus,
    User,
)
from companion.i18n import Translator
from companion.llm.openai_backend import OpenAIChatModel
from companion.storage.conversations import ConversationRepository
from companion.storage.crypto import AesGcmCipher
from companion.storage.embedded import EmbeddedMongoServer
from companion.storage.events import EventRepository
from companion.storage.indexes import ensure_indexes
from companion.storage.messages import MessageRepository
from companion.storage.users import UserRepository
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.dialogs.conftest import DictCatalog, RuleEntitlements
from tests.unit.dialogs.persona_factory import make_persona


class MemoryUsers:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}

    async def get(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    async def upsert(self, user: User) -> User:
        self.users[user.id] = user
        return user

    async def update(self, user_id: int, **fields: object) -> User | None:
        user = self.users.get(user_id)
        if user is not None:
            self.users[user_id] = user.model_copy(update=fields)
        return self.users.get(user_id)


class MemoryConversations:
    def __init__(self) -> None:
        self.active: dict[tuple[int, str], Conversation] = {}
        self.ids = itertools.count(1)

    async def get_active(self, user_id: int, persona_id: str) -> Conversation | None:
        return self.active.get((user_id, persona_id))

    async def start(self, user_id: int, persona_id: str) -> Conversation:
        conv = Conversation(id=str(next(self.ids)), user_id=user_id, persona_id=persona_id)
        self.active[(user_id, persona_id)] = conv
        return conv

    async def save_summary(self, conversation_id: str, summary: str, upto_seq: int) -> None:
        for key, conv in self.active.items():
            if conv.id == conversation_id:
                self.active[key] = conv.model_copy(
                    update={"summary": summary, "summary_upto_seq": upto_seq}
                )


class MemoryMessages:
    def __init__(self, conversations: MemoryConversations) -> None:
        self.by_conv: dict[str, list[Message]] = {}
        self.last_seq: dict[str, int] = {}
        self.conversations = conversations

    async def reserve(self, conversation: Conversation, count: int) -> int:
        first = self.last_seq.get(conversation.id, 0) + 1
        self.last_seq[conversation.id] = first + count - 1
        # As in MongoDB: the conversation read next carries the new last_seq.
        for key, conv in self.conversations.active.items():
            if conv.id == conversation.id:
                self.conversations.active[key] = conv.model_copy(
                    update={"last_seq": self.last_seq[conversation.id]}
                )
        return first

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
        if seq is None:
            seq = await self.reserve(conversation, 1)
        message = Message(
            id=f"{conversation.id}:{seq}",
            conversation_id=conversation.id,
            user_id=conversation.user_id,
            persona_id=conversation.persona_id,
            seq=seq,
            role=role,
            text=text,
            source=source,
            status=status,
            meta=meta or {},
        )
        items = self.by_conv.setdefault(conversation.id, [])
        items.append(message)
        items.sort(key=lambda m: m.seq)
        return message

    async def recent(
        self,
        conversation_id: str,
        limit: int,
        *,
        after_seq: int = 0,
        last_seq: int | None = None,
    ) -> list[Message]:
        upper = last_seq if last_seq is not None else self.last_seq.get(conversation_id, 0)
        items = [
            m
            for m in self.by_conv.get(conversation_id, [])
            if after_seq < m.seq <= upper and m.status is MessageStatus.COMPLETE
        ]
        return items[-limit:]


class MemoryEvents:
    async def record(self, event: Event) -> None:
        return None


@dataclass
class Result:
    name: str
    per_turn_ms: list[float]
    wall_s: float

    def row(self) -> str:
        q = statistics.quantiles(self.per_turn_ms, n=100)
        turns = len(self.per_turn_ms)
        return (
            f"{self.name:<32} p50 {q[49]:7.2f} ms   p99 {q[98]:7.2f} ms   "
            f"{turns / self.wall_s:8.1f} turns/s"
        )


async def run(service: DialogService, users: Any, n_turns: int, n_users: int, name: str) -> Result:
    people = [
        await users.upsert(User(id=1000 + i, language="en", consent_at=datetime.now(UTC)))
        for i in range(n_users)
    ]
    for person in people:
        await service.start(person, "anna")
    durations: list[float] = []
    per_user = n_turns // n_users

    async def talk(person: User) -> None:
        for turn in range(per_user):
            started = time.perf_counter()
            async for _ in service.reply(person, "anna", f"message number {turn}, how are you?"):
                pass
            durations.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(talk(p) for p in people))
    return Result(name, durations, time.perf_counter() - started)


def build(users: Any, conversations: Any, messages: Any, events: Any, llm: Any) -> DialogService:
    return DialogService(
        personas=DictCatalog(make_persona()),
        users=users,
        conversations=conversations,
        messages=messages,
        llm=llm,
        prompts=PromptBuilder(),
        entitlements=RuleEntitlements(),
        events=events,
        locks=LocalUserLocks(),
        texts=Translator(),
    )


async def main(n_turns: int, n_users: int) -> None:
    async with OpenAIEmulator(reply="Sure, I'm here. How was your day?") as emu:
        llm = OpenAIChatModel(
            LLMSettings(backend="openai", base_url=emu.base_url, model=emu.base_model)
        )
        results = []
        baseline_users = MemoryUsers()
        conversations = MemoryConversations()
        baseline = build(
            baseline_users, conversations, MemoryMessages(conversations), MemoryEvents(), llm
        )
        results.append(
            await run(baseline, baseline_users, n_turns // 4, 1, "storage disabled, 1 user")
        )
        results.append(
            await run(baseline, baseline_users, n_turns, n_users, "storage disabled, concurrent")
        )

        with tempfile.TemporaryDirectory() as tmp:
            server = EmbeddedMongoServer(Path(tmp) / "db")
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
                server.start(), tz_aware=True
            )
            try:
                db = client["bench"]
                await ensure_indexes(db)
                cipher = (
                    AesGcmCipher.from_key(b"k" * 32)
                    if hasattr(AesGcmCipher, "from_key")
                    else AesGcmCipher(b"k" * 32)
                )
                users = UserRepository(db)
                messages = MessageRepository(db, cipher)
                service = build(
                    users, ConversationRepository(db, cipher), messages, EventRepository(db), llm
                )
                results.append(
                    await run(service, users, n_turns // 4, 1, "MongoDB-wire + AES-GCM, 1 user")
                )
                results.append(
                    await run(service, users, n_turns, n_users, "MongoDB-wire + AES, concurrent")
                )
                await messages.aclose()  # the conversation touches written behind
            finally:
                await client.close()
                server.stop()
        await llm.aclose()

    print(
        f"instant LLM server (HTTP streaming); 1 user: {n_turns // 4} turns in sequence "
        f"(latency of one turn); concurrent: {n_turns} turns from {n_users} users (throughput)"
    )
    for result in results:
        print(result.row())
    base_seq, base_conc, real_seq, real_conc = results
    added = statistics.median(real_seq.per_turn_ms) - statistics.median(base_seq.per_turn_ms)
    print(f"storage adds {added:.2f} ms per turn at the median (1 user)")
    cpu_base = base_conc.wall_s / len(base_conc.per_turn_ms) * 1000
    cpu_real = real_conc.wall_s / len(real_conc.per_turn_ms) * 1000
    print(
        f"wall time per turn under load: {cpu_base:.2f} ms without storage, {cpu_real:.2f} ms with"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.users))
