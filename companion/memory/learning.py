"""Learning after replies (the `MemoryWriter` side of `MemoryService`).

`schedule_extraction` never blocks: it counts exchanges per conversation and starts a
background pass every `extract_every_turns` exchanges, or after `idle_extract_s` without a new
one. A pass embeds the new exchanges into `episodes`, extracts facts with the LLM and
reconciles them. One pass runs at a time per user; the tasks are kept and `drain()` /
`aclose()` finish them on shutdown, within a limit: a pass stuck past it (a model call that
never returns) is cancelled and logged, not waited for forever. Nothing is lost by that: the
messages stay stored, the cut pass takes back the episodes it stored, and the conversation's
next pass (after a restart too) reads those messages again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from companion.domain.models import Conversation, Message, MessageRole, User
from companion.domain.ports import MessageHistory
from companion.memory.embedder import Embedder
from companion.memory.episode_store import EpisodeStore
from companion.memory.extraction import FactExtractor
from companion.memory.facts import Episode
from companion.memory.memory_config import MemoryConfig
from companion.memory.reconcile import Action, Outcome, Reconciler
from companion.memory.records import MemoryRecord
from companion.memory.retriever import Retriever
from companion.memory.store import FactStore, ForgetMarker
from companion.shutdown import finish_or_abandon

log = logging.getLogger(__name__)

# How long a pass cut short may take to delete the episodes it stored (within the grace that
# `companion.shutdown` gives cancelled work).
TAKE_BACK_S = 1.0


class MemoryLearner:
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
        config: MemoryConfig,
        persona_name: Callable[[str, str], str],
        clock: Callable[[], datetime],
        user_locks: dict[int, asyncio.Lock],
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
        self.config = config
        self._persona_name = persona_name
        self._clock = clock
        self._user_locks = user_locks
        # Told each pass's duration and outcome (the memory_pass histogram of /metrics).
        self._observe_pass = observe_pass
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle_timers: dict[str, tuple[asyncio.Task[None], User, Conversation]] = {}
        self._pending: dict[str, int] = {}
        self._cursors: OrderedDict[str, int] = OrderedDict()
        self._closed = False
        self.last_outcomes: list[Outcome] = []  # of the latest pass (for tests and the CLI)

    @property
    def backlog(self) -> int:
        """Learning passes waiting for their conversation to go idle or running now."""
        return len(self._tasks)

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
            self._spawn(self._pass(user, conversation), conversation.id)
        else:
            task = self._spawn(self._after_idle(user, conversation), conversation.id)
            self._idle_timers[conversation.id] = (task, user, conversation)

    async def drain(self, timeout_s: float | None = None) -> bool:
        """Run every due or waiting pass now and wait for all background work to finish; with
        `timeout_s`, passes still running after it are cancelled and logged. True when all
        finished. A caller that is cancelled (a shutdown's own limit) cancels them too."""
        for task, user, conversation in list(self._idle_timers.values()):
            task.cancel()
            self._spawn(self._pass(user, conversation), conversation.id)
        self._idle_timers.clear()
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while self._tasks:  # a pass may start another (an idle timer turned into a pass)
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                break
            try:
                await asyncio.wait(set(self._tasks), timeout=remaining)
            except asyncio.CancelledError:
                await finish_or_abandon(self._tasks, 0, what="memory pass(es)")
                raise
        if not self._tasks:
            return True
        await finish_or_abandon(self._tasks, 0, what="memory pass(es)")
        return False

    async def aclose(self, timeout_s: float | None = 10.0) -> None:
        """Stop taking passes and drain the started ones (see `drain`)."""
        self._closed = True
        await self.drain(timeout_s)

    def _spawn(self, coroutine: Any, conversation_id: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(
            coroutine, name=f"memory pass of conversation {conversation_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _after_idle(self, user: User, conversation: Conversation) -> None:
        await asyncio.sleep(self.config.idle_extract_s)
        self._idle_timers.pop(conversation.id, None)
        await self._pass(user, conversation)

    async def _pass(self, user: User, conversation: Conversation) -> None:
        outcome, started = "failed", 0.0
        try:
            async with self._user_locks.setdefault(user.id, asyncio.Lock()):
                started = time.perf_counter()  # the pass itself, not the wait for the lock
                self._pending[conversation.id] = 0
                outcome = await self._learn(user, conversation)
        except Exception:
            log.exception("memory pass failed for conversation %s", conversation.id)
        finally:
            if self._observe_pass is not None and started:
                self._observe_pass(time.perf_counter() - started, outcome)

    async def _learn(self, user: User, conversation: Conversation) -> str:
        """One pass over the conversation's new messages: "learned", "nothing" (no finished
        exchange yet) or "undone" (the user erased them meanwhile)."""
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
            return "nothing"
        try:
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
        except asyncio.CancelledError:
            await self._take_back_episodes(user.id, messages)
            raise
        if await self._erased_meanwhile(user.id, conversation.id, messages, marker):
            await self._undo(user.id, episode_ids, outcomes)
            return "undone"
        self._cursors[conversation.id] = messages[-1].seq
        self._cursors.move_to_end(conversation.id)
        while len(self._cursors) > 10_000:
            self._cursors.popitem(last=False)
        return "learned"

    async def _take_back_episodes(self, user_id: int, messages: Sequence[Message]) -> None:
        """A pass cut short (the shutdown's limit) takes back the episodes it stored: they are
        where the next pass starts (`episodes.last_seq`, after a restart), and the facts of
        these messages are not extracted yet. So the next pass reads them again, all of it."""
        ids = [m.id for m in messages if m.role is MessageRole.USER]  # an episode's id
        try:
            await asyncio.wait_for(self.episodes.delete(user_id, ids), TAKE_BACK_S)
            self.episode_retriever.invalidate(user_id)
        except Exception as exc:  # shutting down: the facts of these messages may be missed
            log.warning("a cut memory pass could not take back its episodes (%r)", exc)

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
                    user_chars=episode.user_chars,
                )
            )
        await self.episode_retriever.index(user.id, records)
        return [episode.id for episode in episodes]
