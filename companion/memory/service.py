"""Long-term memory as the dialogue service sees it: recall before a reply, learn after it.

`MemoryService` implements the `MemoryRecall` and `MemoryWriter` ports
(`companion.domain.ports`) and the operations behind /memory, /forget and the CLI.

- `recall` embeds the message once and asks two retrievers: facts (shared by every persona:
  the user is the same person) and past exchanges with this persona (another persona never
  "remembers" what it did not say). Only records similar enough to the message are used, the
  user's core facts (importance 5) are always offered, and everything is cut to the prompt
  token budget. Failures are logged and give an empty recollection: memory never breaks a
  reply.
- `schedule_extraction` counts exchanges and learns from them in the background
  (`companion.memory.learning.MemoryLearner`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from companion.config import MemorySettings
from companion.domain.models import Conversation, Message, User
from companion.domain.personas import Persona
from companion.domain.ports import MessageHistory, Recollection
from companion.llm.base import ChatModel
from companion.memory.embedder import Embedder
from companion.memory.episode_store import EpisodeStore
from companion.memory.extraction import FactExtractor
from companion.memory.facts import Episode, Fact
from companion.memory.languages import LanguageMeans
from companion.memory.learning import MemoryLearner
from companion.memory.memory_config import MemoryConfig
from companion.memory.participants import participant_names, without_names
from companion.memory.reconcile import Outcome, Reconciler, fact_record
from companion.memory.records import MemoryRecord, ScoredId
from companion.memory.retriever import Retriever
from companion.memory.retriever_config import RetrieverConfig
from companion.memory.selection import approximate_tokens, fit_to_budget
from companion.memory.store import FactStore
from companion.prompts import prompt_templates
from companion.storage import collections as names
from companion.storage.crypto import FieldCipher

log = logging.getLogger(__name__)


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
        observe_pass: Callable[[float, str], None] | None = None,
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
        # Held by a learning pass and by /memory deletes and /forget: one at a time per user.
        self._user_locks: dict[int, asyncio.Lock] = {}
        self._learner = MemoryLearner(
            facts=facts,
            episodes=episodes,
            fact_retriever=fact_retriever,
            episode_retriever=episode_retriever,
            embedder=embedder,
            messages=messages,
            reconciler=reconciler,
            extractor=extractor,
            config=self.config,
            persona_name=self._persona_name,
            clock=self._clock,
            user_locks=self._user_locks,
            observe_pass=observe_pass,
        )

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
        observe_pass: Callable[[float, str], None] | None = None,
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
        languages = LanguageMeans(embedder)  # measured once for both retrievers
        fact_retriever = Retriever(
            embedder,
            facts,
            languages=languages,
            # One rule for every question: the time priors by question were fitted on
            # exchanges; a fact is already the latest word ("lives in Tver") once reconciled.
            config=RetrieverConfig(
                recency_weight=0.03,
                now_recency_weight=0.03,
                supersede_weight=0.1,
                now_supersede_weight=0.1,
                count_supersede_weight=0.1,
                importance_weight=0.05,
            ),
            dense_search=(
                AtlasDenseSearch(db[names.MEMORIES], settings.vector_index_name) if atlas else None
            ),
        )
        episode_retriever = Retriever(
            embedder,
            episodes,
            languages=languages,
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
            observe_pass=observe_pass,
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
        # "Лео, помнишь...?": the names of the two people talking find greetings, not the
        # records the message is about (companion.memory.participants).
        asked = without_names(query, participant_names(user, persona))
        # The message as written is embedded too (one batch) when that differs: the mood
        # reading takes its vector from the embedder's recent ones (companion.mood).
        texts = [asked] if asked == query else [asked, query]
        vector = (await self.embedder.embed_queries(texts))[0]
        query = asked
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

    # ---- learning (MemoryWriter): `MemoryLearner` ----------------------------------------------

    @property
    def last_outcomes(self) -> list[Outcome]:
        """The reconciliation outcomes of the latest pass (for tests and the CLI)."""
        return self._learner.last_outcomes

    @property
    def learning_backlog(self) -> int:
        """This worker's learning passes not finished yet (the owner's console shows it)."""
        return self._learner.backlog

    def schedule_extraction(self, user: User, conversation: Conversation) -> None:
        """Count one more exchange; start a background pass when a batch is due."""
        self._learner.schedule_extraction(user, conversation)

    async def drain(self) -> None:
        """Run every due or waiting pass now and wait for all background work to finish."""
        await self._learner.drain()

    async def aclose(self) -> None:
        await self._learner.aclose()
        await self.fact_retriever.aclose()
        await self.episode_retriever.aclose()

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

    async def edit_fact(self, user_id: int, fact_id: str, text: str) -> Fact | None:
        """Give a fact the user's own wording (the old one kept in its history); None if gone.

        The new text is embedded again, so recall finds the fact by what it says now.
        """
        async with self._user_locks.setdefault(user_id, asyncio.Lock()):
            current = await self.facts.get(user_id, fact_id)
            if current is None:
                return None
            vector = (await self.embedder.embed_passages([text]))[0]
            new = current.model_copy(update={"text": text})
            updated = await self.facts.replace_text(
                current, new, vector, reason="edited by the user", now=self._clock()
            )
            await self.fact_retriever.index(user_id, [fact_record(updated, vector)])
        return updated

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
