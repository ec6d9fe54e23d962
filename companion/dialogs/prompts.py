"""Renders the prompt templates (`companion/prompts/`); fits a conversation into the context."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from companion.domain.models import Message, MessageRole
from companion.domain.personas import ExampleDialogue, Module, Persona
from companion.llm.base import ChatMessage, Role
from companion.prompts import prompt_templates

LANGUAGE_NAMES = {"ru": "Russian", "en": "English"}
# The prompt itself is English whatever the reply language; the person is "the user" until
# their name is known.
_UNNAMED_USER = "the user"
# Marks where the system templates' stable part ends, on a line of its own; taken out again.
_STABLE_END = "\x00stable-end\x00"
MODULE_TEMPLATES = {
    Module.SUPPORT: "system/support.j2",
    Module.PARTNER: "system/partner.j2",
    Module.PRACTICE: "system/practice.j2",
    Module.CELEBRITY: "system/celebrity.j2",
}


@dataclass(slots=True)
class SystemPromptContext:
    persona: Persona
    language: str
    user_name: str | None = None
    facts: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)
    summary: str = ""
    now: datetime | None = None
    max_examples: int = 2
    # The user's recent days were mostly negative (companion.mood): the persona notices.
    mood_care: bool = False


@dataclass(slots=True)
class PromptPlan:
    """The messages sent to the model and what of the history did not fit."""

    messages: list[ChatMessage]
    # Lowest seq of the history included verbatim; older complete turns belong in the summary.
    oldest_included_seq: int | None
    prompt_tokens: int
    # The system prompt's first characters that stay the same from turn to turn.
    stable_prefix_chars: int = 0


class PromptBuilder:
    def __init__(self, templates_dir: Path | None = None) -> None:
        # `templates_dir`: other templates to try (training); the packaged ones by default.
        self._env = prompt_templates(templates_dir)

    def render_system(self, ctx: SystemPromptContext) -> str:
        return self.render_system_parts(ctx)[0]

    def render_system_parts(self, ctx: SystemPromptContext) -> tuple[str, int]:
        """The system prompt and how many of its first characters are the same on every turn
        with this persona, language and user (the template's ``stable_end``; 0 without it):
        the part a backend can keep the state of (`ChatRequest.cacheable_prefix_chars`)."""
        template = self._env.get_template(MODULE_TEMPLATES[ctx.persona.module])
        text = template.render(
            persona=ctx.persona,
            language=ctx.language,
            language_name=LANGUAGE_NAMES.get(ctx.language, ctx.language),
            user_name=ctx.user_name,
            facts=ctx.facts,
            episodes=ctx.episodes,
            summary=ctx.summary,
            now=ctx.now,
            examples=_pick_examples(ctx.persona.example_dialogues, ctx.language, ctx.max_examples),
            has_gallery=bool(ctx.persona.gallery),
            mood_care=ctx.mood_care,
            stable_end=_STABLE_END,
        )
        # Character Card placeholders in imported cards: {{char}} is the persona, {{user}} the
        # person (by name once we know it).
        text = text.replace("{{char}}", ctx.persona.display_name(ctx.language)).replace(
            "{{user}}", ctx.user_name or _UNNAMED_USER
        )
        text = _squeeze_blank_lines(text)
        border = text.find(_STABLE_END + "\n")
        if border < 0:
            return text.replace(_STABLE_END, ""), 0
        head, tail = text[:border], text[border + len(_STABLE_END) + 1 :]
        if head.endswith("\n\n"):
            tail = tail.lstrip("\n")
        return head + tail, len(head)

    def render(self, template_name: str, **context: object) -> str:
        """Any other template (summary, memory extraction...)."""
        return _squeeze_blank_lines(self._env.get_template(template_name).render(**context))

    def render_summary(
        self, persona_name: str, language: str, previous_summary: str, turns: Sequence[Message]
    ) -> str:
        return self.render(
            "summary.j2",
            persona_name=persona_name,
            language_name=LANGUAGE_NAMES.get(language, language),
            previous_summary=previous_summary,
            turns=[{"role": turn.role.value, "text": turn.text} for turn in turns],
        )

    def plan(
        self,
        ctx: SystemPromptContext,
        history: Sequence[Message],
        user_text: str,
        *,
        count_tokens: Callable[[str], int],
        context_window: int,
        reply_tokens: int,
        history_budget: int,
    ) -> PromptPlan:
        """System prompt + as many recent turns as fit + the new user message.

        The system prompt is shrunk first by dropping examples, then recalled episodes, then
        the least relevant facts, so a long memory never pushes the conversation out.
        """
        # Per-message overhead of chat templates (role markers, separators).
        overhead = 8
        available = context_window - reply_tokens - count_tokens(user_text) - 2 * overhead
        system, stable = self.render_system_parts(ctx)
        system_tokens = count_tokens(system)
        shrink = SystemPromptContext(**{name: getattr(ctx, name) for name in ctx.__slots__})
        while system_tokens > available // 2 and _shrinkable(shrink):
            if shrink.max_examples:
                shrink.max_examples = 0
            elif shrink.episodes:
                shrink.episodes = shrink.episodes[:-1]
            else:
                shrink.facts = shrink.facts[:-1]
            system, stable = self.render_system_parts(shrink)
            system_tokens = count_tokens(system)
        if system_tokens > available:
            raise PromptTooLargeError(
                f"system prompt needs {system_tokens} tokens; only {available} are available"
            )

        budget = min(history_budget, available - system_tokens)
        included: list[Message] = []
        used = 0
        for message in reversed(history):
            cost = count_tokens(message.text) + overhead
            if used + cost > budget:
                break
            included.append(message)
            used += cost
        included.reverse()

        messages = [ChatMessage(role=Role.SYSTEM, content=system)]
        for message in included:
            role = Role.USER if message.role is MessageRole.USER else Role.ASSISTANT
            _append_merged(messages, role, message.text)
        _append_merged(messages, Role.USER, user_text)
        return PromptPlan(
            messages=messages,
            oldest_included_seq=included[0].seq if included else None,
            prompt_tokens=system_tokens + used + count_tokens(user_text) + overhead,
            stable_prefix_chars=stable,
        )


class PromptTooLargeError(ValueError):
    """The prompt cannot fit the model's context window even without history."""


def _shrinkable(ctx: SystemPromptContext) -> bool:
    return bool(ctx.max_examples or ctx.episodes or ctx.facts)


def _append_merged(messages: list[ChatMessage], role: Role, text: str) -> None:
    # Some chat templates reject two turns of the same role in a row (a reply that failed
    # leaves two user turns adjacent), so such turns are joined.
    if messages and messages[-1].role is role and role is not Role.SYSTEM:
        messages[-1] = ChatMessage(role=role, content=f"{messages[-1].content}\n\n{text}")
    else:
        messages.append(ChatMessage(role=role, content=text))


def _pick_examples(
    dialogues: Sequence[ExampleDialogue], language: str, limit: int
) -> list[ExampleDialogue]:
    if limit <= 0:
        return []
    same = [d for d in dialogues if d.language == language]
    other = [d for d in dialogues if d.language != language]
    return (same + other)[:limit]


def _squeeze_blank_lines(text: str) -> str:
    lines = text.strip().splitlines()
    out: list[str] = []
    for line in lines:
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line.rstrip())
    return "\n".join(out) + "\n"
