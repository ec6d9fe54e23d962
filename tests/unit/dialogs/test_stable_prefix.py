"""The system prompt's stable part comes first (a backend keeps its state between turns), and
what the local backend's short reply budget and priming build on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from companion.config import LLMSettings
from companion.dialogs.priming import priming_request
from companion.dialogs.prompts import PromptBuilder, SystemPromptContext
from companion.domain.models import User
from companion.domain.personas import Module
from companion.llm.base import Role
from companion.llm.stop_strings import ends_sentence
from tests.unit.dialogs.persona_factory import make_persona

NOW = datetime(2026, 12, 5, 14, 40, tzinfo=UTC)


def _turn(**changes: object) -> SystemPromptContext:
    ctx = SystemPromptContext(persona=make_persona(), language="en", user_name="Oleg", now=NOW)
    for name, value in changes.items():
        setattr(ctx, name, value)
    return ctx


@pytest.mark.parametrize("module", list(Module))
def test_the_stable_part_is_the_same_on_every_turn_and_the_rest_follows_it(
    module: Module,
) -> None:
    builder = PromptBuilder()
    adult = {"pro_only": True, "adult": True} if module is Module.PARTNER else {}
    persona = make_persona(module=module, **adult)
    first, first_stable = builder.render_system_parts(_turn(persona=persona))
    later, later_stable = builder.render_system_parts(
        _turn(
            persona=persona,
            facts=["Oleg has a dog named Bim."],
            episodes=["They talked about his exam."],
            summary="Oleg is nervous about an exam.",
            now=NOW + timedelta(hours=3),
            mood_care=True,
        )
    )
    assert first_stable == later_stable > 0
    stable = first[:first_stable]
    assert later.startswith(stable)
    # Everything that changes from turn to turn is after it; the persona and the rules in it.
    for changing in ("Bim", "his exam", "nervous", "17:40", "14:40", "often seemed low"):
        assert changing not in stable
    assert "Bim" in later and "17:40" in later and "often seemed low" in later
    assert "You are Anna." in stable and "Kind, curious" in stable and "rough day" in stable
    # The closing rules stay last (after the memories and the mood hint), read every turn.
    assert "# Always" not in stable and later.index("Bim") < later.index("# Always")
    assert "\x00" not in first + later and "\n\n\n" not in later
    assert builder.render_system(_turn(persona=persona)) == first


def test_the_plan_reports_the_stable_part_of_its_system_message() -> None:
    builder = PromptBuilder()
    plan = builder.plan(
        _turn(facts=["Oleg has a dog named Bim."]),
        [],
        "Hi",
        count_tokens=lambda text: len(text.split()),
        context_window=4000,
        reply_tokens=100,
        history_budget=500,
    )
    system = plan.messages[0]
    assert system.role is Role.SYSTEM
    _, stable = builder.render_system_parts(_turn())
    assert plan.stable_prefix_chars == stable
    assert "Bim" in system.content[stable:]


def test_priming_reads_the_same_stable_part_a_turn_starts_with() -> None:
    builder = PromptBuilder()
    persona = make_persona()
    user = User(id=1, language="en", first_name="Oleg")
    primed = priming_request(builder, persona, user, now=NOW)
    turn, stable = builder.render_system_parts(_turn(facts=["Oleg likes tea."]))
    assert primed.cacheable_prefix_chars == stable
    assert primed.messages[0].content[:stable] == turn[:stable]
    assert primed.sampling.max_tokens == 1


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("It was a long day. ", True),
        ("Правда? ", True),
        ("Wow!! ", True),
        ("He said “go.” ", True),
        ("Let me think… ", True),
        ("It was a long day.", False),  # the next word has not come yet
        ("It costs 3.", False),
        ("Version 3.5 ", False),
        ("I went to the ", False),
    ],
)
def test_sentence_ends(text: str, ends: bool) -> None:
    assert ends_sentence(text) is ends


def test_the_short_reply_budget_is_the_local_backends_only() -> None:
    local = LLMSettings(backend="local")
    assert local.reply_tokens == 96 and local.reply_sentence_after == 32
    assert LLMSettings(backend="local", local_reply_sentence_after=0).reply_sentence_after is None
    served = LLMSettings(backend="openai", base_url="http://vllm:8000/v1")
    assert served.reply_tokens == served.max_reply_tokens == 512
    assert served.reply_sentence_after is None
