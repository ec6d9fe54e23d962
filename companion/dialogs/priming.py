"""Reads a persona's stable prompt part ahead of the first message.

A reply's system prompt starts with the part that is the same on every turn with a persona,
language and user (`PromptBuilder.render_system_parts`); a backend with a prompt cache (the
local CTranslate2 runtime) reads it once and keeps its state. Priming pays that read while the
person is still typing, so the first reply is as fast as the next ones (BENCHMARKS.md, "A turn
on the embedded default"). A backend without such a cache only answers one token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from companion.domain.models import User
from companion.domain.personas import Persona
from companion.llm.base import ChatMessage, ChatModel, ChatRequest, LLMError, Role, SamplingParams

log = logging.getLogger(__name__)


def priming_request(
    prompts: PromptBuilder, persona: Persona, user: User, *, now: datetime | None = None
) -> ChatRequest:
    """A one-token request whose system prompt starts with the same stable part as the
    user's replies with `persona` (what follows it differs and is not kept)."""
    language = persona.reply_language(user.language)
    system, stable = prompts.render_system_parts(
        SystemPromptContext(
            persona=persona,
            language=language,
            user_name=user.first_name,
            now=now or datetime.now(UTC),
        )
    )
    # The stable part and the first line after it: where the stable part's tokens end depends
    # only on what follows it at once; the rest would only be read for nothing.
    head = system[:stable] + system[stable:].split("\n", 1)[0] + "\n"
    return ChatRequest(
        messages=[
            ChatMessage(role=Role.SYSTEM, content=head),
            ChatMessage(role=Role.USER, content="Hi"),
        ],
        sampling=SamplingParams(temperature=0.0, max_tokens=1),
        cacheable_prefix_chars=stable,
    )


async def prime_persona(
    llm: ChatModel, prompts: PromptBuilder, persona: Persona, user: User
) -> bool:
    """Read the persona's stable prompt part into the model's cache; False if that failed
    (a reply then simply reads it itself)."""
    try:
        await llm.complete(priming_request(prompts, persona, user))
    except LLMError as exc:
        log.info("priming %s failed: %s", persona.id, exc)
        return False
    return True
