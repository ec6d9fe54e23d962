"""Persona conditioning: the system prompt of each example is the one the bot sends.

Training and serving must agree on the system prompt, or the adapter learns a persona the
bot never asks for. So the prompt is rendered by the bot's own PromptBuilder from the
templates in `companion/prompts/`, with no user facts, episodes or summary (the bot adds
those per user).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from companion.domain.personas import Persona
from training.data.loaders import pick_stable
from training.data.records import Example, Role, Turn


class SystemPromptRenderer(Protocol):
    def render(self, persona: Persona, language: str) -> str: ...


class BotSystemPrompt:
    """The bot's system prompt for a persona and language (companion.dialogs.prompts)."""

    def __init__(self, templates_dir: Path | None = None) -> None:
        # Imported here so the rest of the training package works without the dialog layer.
        from companion.dialogs.prompts import PromptBuilder

        self._builder = PromptBuilder(templates_dir)
        self._cache: dict[tuple[str, str], str] = {}

    def render(self, persona: Persona, language: str) -> str:
        from companion.dialogs.prompts import SystemPromptContext

        key = (persona.id, language)
        if key not in self._cache:
            context = SystemPromptContext(persona=persona, language=language)
            self._cache[key] = self._builder.render_system(context)
        return self._cache[key]


class PersonaConditioner:
    """Puts a persona's system prompt in front of an example.

    Examples from a persona's own card keep that persona. Others get a persona chosen
    stably from the content among those that speak the example's language; an example in a
    language no persona speaks is returned unchanged (and counted by the caller).
    """

    def __init__(self, personas: dict[str, Persona], renderer: SystemPromptRenderer) -> None:
        self._personas = personas
        self._renderer = renderer

    def condition(self, example: Example, key: str) -> Example | None:
        persona = self._choose(example, key)
        if persona is None:
            return None
        language = persona.reply_language(example.language)
        system = self._renderer.render(persona, language)
        body = [turn for turn in example.messages if turn.role is not Role.SYSTEM]
        return example.model_copy(
            update={
                "messages": [Turn(role=Role.SYSTEM, content=system), *body],
                "persona_id": persona.id,
            }
        )

    def _choose(self, example: Example, key: str) -> Persona | None:
        if example.persona_id is not None:
            return self._personas.get(example.persona_id)
        speakers = sorted(p.id for p in self._personas.values() if example.language in p.languages)
        if not speakers:
            return None
        return self._personas[pick_stable(speakers, key)]
