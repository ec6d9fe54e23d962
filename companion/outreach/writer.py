"""The check-in's text: written by the persona through the model, or the reviewed template.

The prompt (`companion/prompts/outreach/checkin.j2`) is self-contained: the persona's card,
the remembered event or the silence, and the end of the last conversation. The answer is
cleaned (quotes, "Name:" prefixes, photo markers) and refused when empty or when it talks like
a model, so a bad generation is retried later instead of being sent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from companion.domain.models import Message, MessageRole
from companion.domain.personas import Persona
from companion.llm.base import ChatMessage, ChatModel, ChatRequest, LLMError, Role, SamplingParams
from companion.personas.forms import address_of
from companion.prompts import prompt_templates

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"ru": "Russian", "en": "English"}
MAX_CHARS = 700
MAX_TOKENS = 160
_MARKER_RE = re.compile(r"\[(?:photo|фото)[^\]]*\]", re.IGNORECASE)
_AS_MODEL_RE = re.compile(
    r"\b(?:as an ai|language model|i'?m an ai|языков(?:ая|ой) модел|как ии\b|я\s*—?\s*ии\b)",
    re.IGNORECASE,
)


class TextCatalog(Protocol):
    def get(self, language: str, key: str, **args: object) -> str: ...


@dataclass(frozen=True, slots=True)
class CheckinBrief:
    kind: str  # JobKind value
    language: str
    user_name: str | None
    local_now: datetime
    fact: str = ""
    event_date: str = ""
    days_silent: int = 0


class CheckinWriter:
    def __init__(self, llm: ChatModel, texts: TextCatalog) -> None:
        self._llm = llm
        self._texts = texts
        self._env = prompt_templates()

    def render(self, persona: Persona, brief: CheckinBrief, recent: Sequence[Message]) -> str:
        return self._env.get_template("outreach/checkin.j2").render(
            persona=persona,
            language=brief.language,
            language_name=LANGUAGE_NAMES.get(brief.language, brief.language),
            user_name=brief.user_name,
            kind=brief.kind,
            fact=brief.fact,
            event_date=brief.event_date,
            days_silent=brief.days_silent,
            local_time=brief.local_now.strftime("%A %H:%M"),
            recent=[
                {"role": "user" if m.role is MessageRole.USER else "persona", "text": m.text}
                for m in recent
            ],
        )

    async def write(
        self, persona: Persona, brief: CheckinBrief, recent: Sequence[Message]
    ) -> str | None:
        """The persona's message; None when the model failed or wrote something unusable."""
        request = ChatRequest(
            messages=[
                ChatMessage(role=Role.SYSTEM, content=self.render(persona, brief, recent)),
                ChatMessage(role=Role.USER, content="(write your message now)"),
            ],
            adapter=persona.lora_adapter,
            sampling=SamplingParams(
                temperature=persona.sampling.temperature,
                top_p=persona.sampling.top_p,
                max_tokens=MAX_TOKENS,
                stop=["\nUser:", "\nПользователь:"],
            ),
        )
        try:
            raw = await self._llm.complete(request)
        except LLMError as exc:
            log.warning("check-in text failed: %s", exc)
            return None
        return clean(raw, persona.display_name(brief.language))

    def template(self, persona: Persona, language: str) -> str:
        """The human-reviewed text (locales: outreach-after-crisis), never model output."""
        return self._texts.get(language, "outreach-after-crisis", address=address_of(persona))


def clean(raw: str, persona_name: str) -> str | None:
    text = _MARKER_RE.sub("", raw).strip()
    prefix = f"{persona_name}:"
    if text.lower().startswith(prefix.lower()):
        text = text[len(prefix) :].strip()
    if len(text) >= 2 and text[0] in '"«“' and text[-1] in '"»”':
        text = text[1:-1].strip()
    if not text or _AS_MODEL_RE.search(text):
        return None
    if len(text) > MAX_CHARS:
        cut = text[:MAX_CHARS]
        end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
        text = cut[: end + 1] if end > MAX_CHARS // 2 else cut.rstrip() + "…"
    return text
