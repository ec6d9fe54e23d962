"""The rolling summary of a conversation: turns that fell out of the prompt's window are folded
into it by the model, in the background, one fold at a time per conversation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from companion.dialogs.prompts import PromptBuilder
from companion.domain.models import Conversation
from companion.domain.personas import Persona
from companion.domain.ports import ConversationStore, MessageStore
from companion.llm.base import ChatMessage, ChatModel, ChatRequest, Role, SamplingParams

log = logging.getLogger(__name__)


class SummaryFolder:
    def __init__(
        self,
        *,
        conversations: ConversationStore,
        messages: MessageStore,
        llm: ChatModel,
        prompts: PromptBuilder,
        batch: int,
    ) -> None:
        self._conversations = conversations
        self._messages = messages
        self._llm = llm
        self._prompts = prompts
        # Fold once this many complete messages fell out of the window (`DialogLimits`).
        self._batch = batch
        self._background: set[asyncio.Task[None]] = set()
        # Conversations whose summary is being folded now: one fold at a time for each.
        self._folding: set[str] = set()

    def maybe_fold(
        self, persona: Persona, language: str, conversation: Conversation, oldest_included: int
    ) -> None:
        if oldest_included - conversation.summary_upto_seq <= self._batch:
            return
        if conversation.id in self._folding:
            return
        self._folding.add(conversation.id)
        self._spawn(self._fold(persona, language, conversation, oldest_included))

    async def _fold(
        self, persona: Persona, language: str, conversation: Conversation, upto_seq: int
    ) -> None:
        try:
            await self._fold_now(persona, language, conversation, upto_seq)
        finally:
            self._folding.discard(conversation.id)

    async def _fold_now(
        self, persona: Persona, language: str, conversation: Conversation, upto_seq: int
    ) -> None:
        older = await self._messages.recent(
            conversation.id, upto_seq, after_seq=conversation.summary_upto_seq
        )
        turns = [m for m in older if m.seq < upto_seq]
        if not turns:
            return
        prompt = self._prompts.render_summary(
            persona.display_name(language), language, conversation.summary, turns
        )
        summary = await self._llm.complete(
            ChatRequest(
                messages=[ChatMessage(role=Role.USER, content=prompt)],
                sampling=SamplingParams(temperature=0.2, max_tokens=400),
            )
        )
        if summary.strip():
            await self._conversations.save_summary(conversation.id, summary.strip(), turns[-1].seq)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background dialog task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the folds under way before shutdown."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
