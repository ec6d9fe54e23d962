"""The care hint in the system prompt: present for every module when the trend is negative,
absent otherwise, and never a diagnosis."""

from __future__ import annotations

import pytest

from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from companion.domain.personas import Module
from tests.unit.dialogs.persona_factory import make_persona

CARE = "Lately the person has often seemed low"


@pytest.mark.parametrize("module", list(Module))
def test_care_hint_only_when_asked(module: Module) -> None:
    adult = {"pro_only": True, "adult": True} if module is Module.PARTNER else {}
    persona = make_persona(module=module, **adult)
    builder = PromptBuilder()
    caring = builder.render_system(
        SystemPromptContext(persona=persona, language="ru", mood_care=True)
    )
    plain = builder.render_system(SystemPromptContext(persona=persona, language="ru"))
    assert CARE in caring and CARE not in plain
    assert "Do not diagnose" in caring
    # Before the closing rules, so "Always" still comes last.
    assert caring.index(CARE) < caring.index("# Always")
