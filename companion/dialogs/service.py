"""DialogService: one user message in, a streamed in-character reply out.

Order of work for a message: validate → per-user lock → persona + access check → crisis check →
history, summary and memories → prompt within the token budget → model stream (photo markers
held back and stripped) → user turn stored at the first chunk, reply stored at the end →
memory extraction and summary folding scheduled in the background.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from companion.dialogs.events import (
    AccessDeniedError,
    DialogEvent,
    InvalidMessageError,
    Notice,
    NoticeKind,
    ReplyDone,
    ReplyFailedError,
    TextDelta,
    UnknownPersonaError,
)
from companion.dialogs.mood_hooks import MoodHooks
from companion.dialogs.photos import choose_photo
from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from companion.dialogs.safety import is_crisis_message
from companion.dialogs.summaries import SummaryFolder
from companion.dialogs.turns import start_turn, unanswered_turn
from companion.domain.models import (
    Conversation,
    Event,
    EventName,
    Message,
    MessageRole,
    MessageSource,
    MessageStatus,
    User,
)
from companion.domain.personas import Module, Persona
from companion.domain.ports import (
    AccessDecision,
    ConversationStore,
    Entitlements,
    EventSink,
    MemoryRecall,
    MemoryWriter,
    MessageObserver,
    MessageStore,
    MoodCareSource,
    PersonaCatalog,
    Recollection,
    UserLocks,
    UserStore,
)
from companion.llm.base import (
    ChatModel,
    ChatRequest,
    LLMError,
    LLMStreamInterruptedError,
    SamplingParams,
)
from companion.personas import forms, gallery
from companion.personas.dayparts import pick_greeting

log = logging.getLogger(__name__)


class TextCatalog(Protocol):
    """Localised fixed texts (crisis reply, disclaimer) by Fluent key."""

    def get(self, language: str, key: str, **args: object) -> str: ...


class StageTimer(Protocol):
    def observe(self, stage: str, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class DialogLimits:
    max_user_chars: int = 4000
    history_messages: int = 60
    history_token_budget: int = 2048
    context_window: int = 8192
    reply_tokens: int = 512
    reply_sentence_after: int | None = None
    # Fold older turns into the summary once this many complete messages fell out of the window.
    summary_batch: int = 12


@dataclass(slots=True)
class StartResult:
    persona: Persona
    conversation: Conversation
    resumed: bool
    greeting: str | None
    notices: list[Notice] = field(default_factory=list)


class _NoTimer:
    def observe(self, stage: str, seconds: float) -> None:
        return None


class DialogService:
    def __init__(
        self,
        *,
        personas: PersonaCatalog,
        users: UserStore,
        conversations: ConversationStore,
        messages: MessageStore,
        llm: ChatModel,
        prompts: PromptBuilder,
        entitlements: Entitlements,
        events: EventSink,
        locks: UserLocks,
        texts: TextCatalog,
        limits: DialogLimits | None = None,
        memory: MemoryRecall | None = None,
        memory_writer: MemoryWriter | None = None,
        timer: StageTimer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        observer: MessageObserver | None = None,
        care: MoodCareSource | None = None,
    ) -> None:
        self._personas = personas
        self._users = users
        self._conversations = conversations
        self._messages = messages
        self._llm = llm
        self._prompts = prompts
        self._entitlements = entitlements
        self._events = events
        self._locks = locks
        self._texts = texts
        self._limits = limits or DialogLimits()
        self._memory = memory
        self._memory_writer = memory_writer
        self._timer = timer or _NoTimer()
        self._clock = clock
        # Mood: each user message is read in the background; a sustained negative trend adds
        # the care hint to the system prompt.
        self._mood = MoodHooks(observer, care)
        self._summaries = SummaryFolder(
            conversations=conversations,
            messages=messages,
            llm=llm,
            prompts=prompts,
            batch=self._limits.summary_batch,
        )

    # -- conversations -------------------------------------------------------------------

    async def start(self, user: User, persona_id: str, *, fresh: bool = False) -> StartResult:
        """Start or resume the user's conversation with a persona; `fresh` is /reset."""
        persona = self._persona(persona_id)
        await self._check_access(user, persona)
        async with self._locks.hold(user.id):
            conversation = (
                None if fresh else await self._conversations.get_active(user.id, persona.id)
            )
            resumed = conversation is not None
            greeting: str | None = None
            if conversation is None:
                conversation = await self._conversations.start(user.id, persona.id)
                language = persona.reply_language(user.language)
                # A "good night" greeting only at night, in the user's time zone.
                greeting = pick_greeting(
                    persona, language, now=self._clock(), timezone=user.settings.timezone
                )
                await self._messages.append(
                    conversation, MessageRole.ASSISTANT, greeting, source=MessageSource.SYSTEM
                )
            if user.current_persona_id != persona.id:
                await self._users.update(user.id, current_persona_id=persona.id)
                user.current_persona_id = persona.id
            notices = await self._support_disclaimer(user, persona)
        await self._record(user.id, EventName.PERSONA_CHOSEN, persona=persona.id, fresh=fresh)
        return StartResult(persona, conversation, resumed, greeting, notices)

    # -- replies --------------------------------------------------------------------------

    async def reply(
        self,
        user: User,
        persona_id: str,
        text: str,
        *,
        source: MessageSource = MessageSource.TEXT,
    ) -> AsyncIterator[DialogEvent]:
        """Stream the persona's reply to `text`. See the module docstring for the order."""
        text = text.strip()
        if not text:
            raise InvalidMessageError("empty")
        if len(text) > self._limits.max_user_chars:
            raise InvalidMessageError("too_long", self._limits.max_user_chars)
        persona = self._persona(persona_id)
        await self._check_access(user, persona)

        waiting = time.perf_counter()
        async with self._locks.hold(user.id):
            self._timer.observe("lock_wait", time.perf_counter() - waiting)
            conversation = await self._conversations.get_active(user.id, persona.id)
            if conversation is None:
                conversation = await self._conversations.start(user.id, persona.id)
            for notice in await self._support_disclaimer(user, persona):
                yield notice
            if is_crisis_message(text):
                async for event in self._crisis_reply(user, persona, conversation, text, source):
                    yield event
                return
            async for event in self._model_reply(user, persona, conversation, text, source):
                yield event

    async def _model_reply(
        self,
        user: User,
        persona: Persona,
        conversation: Conversation,
        text: str,
        source: MessageSource,
    ) -> AsyncIterator[DialogEvent]:
        started = time.perf_counter()
        language = persona.reply_language(user.language)
        # Where the tail starts, as the conversation was read under the user's lock; messages
        # stored after that (its last_seq is written behind) are read too.
        # A message of this turn already stored by an attempt that died is answered, not
        # stored again (companion/dialogs/turns.py).
        history, unanswered = unanswered_turn(
            await self._messages.recent(
                conversation.id, self._limits.history_messages, last_seq=conversation.last_seq
            ),
            text,
        )
        recollection = await self._recall(user, persona, text, history)
        ctx = SystemPromptContext(
            persona=persona,
            language=language,
            user_name=user.first_name,
            facts=recollection.facts,
            episodes=recollection.episodes,
            summary=conversation.summary,
            now=self._clock(),
            mood_care=await self._mood.needs_care(user),
        )
        reply_tokens = min(persona.sampling.max_tokens, self._limits.reply_tokens)
        plan = self._prompts.plan(
            ctx, history, text, count_tokens=self._llm.count_tokens, reply_tokens=reply_tokens,
            context_window=self._limits.context_window,
            history_budget=self._limits.history_token_budget,
        )  # fmt: skip
        request = ChatRequest(
            messages=plan.messages,
            adapter=persona.lora_adapter,
            sampling=SamplingParams(
                temperature=persona.sampling.temperature,
                top_p=persona.sampling.top_p,
                max_tokens=reply_tokens,
                presence_penalty=persona.sampling.presence_penalty,
                frequency_penalty=persona.sampling.frequency_penalty,
                repetition_penalty=persona.sampling.repetition_penalty,
                stop=["\nUser:", "\nПользователь:"],
                end_at_sentence_after=self._limits.reply_sentence_after,
            ),
            cacheable_prefix_chars=plan.stable_prefix_chars,
        )
        self._timer.observe("prepare", time.perf_counter() - started)

        # Counted in the history read anyway: exact while the conversation fits in it (60).
        earlier_turns = sum(1 for m in history if m.role is MessageRole.USER)
        user_message: Message | None = None
        parts: list[str] = []
        markers = gallery.PhotoMarkerStream()
        first_chunk_at: float | None = None
        try:
            # aclosing: if the consumer stops early, the HTTP stream (and vLLM's generation)
            # or the local worker thread stops now, not when the generator is collected.
            async with contextlib.aclosing(self._llm.stream(request)) as chunks:
                async for chunk in chunks:
                    if user_message is None:
                        # Stored once the model answers: an unreachable model leaves nothing behind.
                        first_chunk_at = time.perf_counter()
                        self._timer.observe("first_token", first_chunk_at - started)
                        user_message = await start_turn(
                            self._messages, conversation, text, source, unanswered
                        )
                    parts.append(chunk)
                    visible = markers.feed(chunk)
                    if visible:
                        yield TextDelta(visible)
        except LLMError as exc:
            partial = "".join(parts)
            if user_message is not None and partial:
                await self._messages.append(
                    conversation,
                    MessageRole.ASSISTANT,
                    partial,
                    status=MessageStatus.INTERRUPTED,
                    meta={"error": type(exc).__name__},
                    seq=user_message.seq + 1,
                )
            log.warning(
                "reply failed for user %s persona %s: %s",
                user.id,
                persona.id,
                exc,
                extra={"stream_interrupted": isinstance(exc, LLMStreamInterruptedError)},
            )
            raise ReplyFailedError(str(exc)) from exc

        tail = markers.finish()
        if tail:
            # An unfinished "[pho…" at the very end was ordinary text after all.
            yield TextDelta(tail)
        clean, hint = gallery.extract_photo_marker("".join(parts))
        if user_message is None:
            # The model produced nothing at all; store the user's turn so it is not lost.
            user_message = await start_turn(self._messages, conversation, text, source, unanswered)

        photo = choose_photo(self._personas, user, persona, text, hint, history, language)
        meta: dict[str, object] = {"photo": photo.image.file} if photo else {}
        if first_chunk_at is not None:
            self._timer.observe("generation", time.perf_counter() - first_chunk_at)
        self._timer.observe("reply", time.perf_counter() - started)
        reply = await self._messages.append(
            conversation, MessageRole.ASSISTANT, clean or "…", meta=meta, seq=user_message.seq + 1
        )
        if photo is not None:
            yield photo
        yield ReplyDone(text=clean, message_id=reply.id)

        self._mood.observe(user, persona, conversation, text)
        if earlier_turns == 0:
            await self._record(user.id, EventName.FIRST_MESSAGE, persona=persona.id)
        elif earlier_turns == 9:
            await self._record(user.id, EventName.TENTH_MESSAGE, persona=persona.id)
        if self._memory_writer is not None:
            self._memory_writer.schedule_extraction(user, conversation)
        if plan.oldest_included_seq is not None:
            self._summaries.maybe_fold(persona, language, conversation, plan.oldest_included_seq)

    async def _crisis_reply(
        self,
        user: User,
        persona: Persona,
        conversation: Conversation,
        text: str,
        source: MessageSource,
    ) -> AsyncIterator[DialogEvent]:
        language = persona.reply_language(user.language)
        user_message = await start_turn(self._messages, conversation, text, source, None)
        reply_text = self._texts.get(language, "crisis-reply", address=forms.address_of(persona))
        reply = await self._messages.append(
            conversation,
            MessageRole.ASSISTANT,
            reply_text,
            source=MessageSource.SYSTEM,
            meta={"crisis": True},
            seq=user_message.seq + 1,
        )
        await self._record(user.id, EventName.CRISIS, persona=persona.id)
        yield Notice(NoticeKind.CRISIS, language)
        yield ReplyDone(text=reply_text, message_id=reply.id)
        self._mood.observe(user, persona, conversation, text)

    # -- helpers --------------------------------------------------------------------------

    def _persona(self, persona_id: str) -> Persona:
        persona = self._personas.get(persona_id)
        if persona is None:
            raise UnknownPersonaError(persona_id)
        return persona

    async def _check_access(self, user: User, persona: Persona) -> None:
        decision = await self._entitlements.check(user, persona)
        if decision is not AccessDecision.ALLOWED:
            raise AccessDeniedError(decision)

    async def _support_disclaimer(self, user: User, persona: Persona) -> list[Notice]:
        if persona.module is not Module.SUPPORT or user.support_disclaimer_shown_at is not None:
            return []
        shown_at = self._clock()
        await self._users.update(user.id, support_disclaimer_shown_at=shown_at)
        user.support_disclaimer_shown_at = shown_at
        return [Notice(NoticeKind.SUPPORT_DISCLAIMER, persona.reply_language(user.language))]

    async def _recall(
        self, user: User, persona: Persona, text: str, history: Sequence[Message]
    ) -> Recollection:
        if self._memory is None:
            return Recollection()
        started = time.perf_counter()
        try:
            return await self._memory.recall(user, persona, text, history)
        except Exception:
            # Memory makes replies better; it must never stop one.
            log.exception("memory recall failed for user %s", user.id)
            return Recollection()
        finally:
            self._timer.observe("recall", time.perf_counter() - started)

    async def _record(self, user_id: int, name: EventName, **data: object) -> None:
        try:
            await self._events.record(Event(user_id=user_id, name=name.value, data=data))
        except Exception:
            log.exception("could not record event %s", name)

    async def drain(self) -> None:
        """Wait for background work (summaries) before shutdown."""
        await self._summaries.drain()
