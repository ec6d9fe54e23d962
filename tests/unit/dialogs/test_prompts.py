from __future__ import annotations

from datetime import UTC, datetime

import pytest

from companion.dialogs.prompts import PromptBuilder, PromptTooLargeError, SystemPromptContext
from companion.domain.models import Message, MessageRole
from companion.domain.personas import Module
from companion.llm.base import Role
from tests.unit.dialogs.persona_factory import make_persona


def words(text: str) -> int:
    return len(text.split())


def history(n: int, words_each: int = 10) -> list[Message]:
    out = []
    for i in range(1, n + 1):
        role = MessageRole.USER if i % 2 else MessageRole.ASSISTANT
        out.append(
            Message(
                id=str(i),
                conversation_id="c",
                user_id=1,
                persona_id="anna",
                seq=i,
                role=role,
                text=" ".join([f"m{i}"] * words_each),
            )
        )
    return out


def test_system_prompt_has_card_memories_summary_and_language() -> None:
    builder = PromptBuilder()
    text = builder.render_system(
        SystemPromptContext(
            persona=make_persona(),
            language="ru",
            user_name="Oleg",
            facts=["Oleg has a dog named Bim."],
            episodes=["Last week Oleg was nervous about an exam."],
            summary="They talked about his exam.",
            now=datetime(2026, 11, 22, tzinfo=UTC),
        )
    )
    assert "You are Анна." in text
    assert "Kind, curious" in text
    assert "You remember that:\n- Oleg has a dog named Bim." in text
    assert "nervous about an exam" in text
    assert "They talked about his exam." in text
    assert "Reply in Russian only" in text
    assert "not a psychologist or a doctor" in text  # support module rules
    assert "\n\n\n" not in text


@pytest.mark.parametrize(
    ("module", "marker"),
    [
        (Module.PARTNER, "romantic partner"),
        (Module.PRACTICE, "practise real-life conversations"),
        (Module.CELEBRITY, "famous fictional character"),
    ],
)
def test_each_module_has_its_own_rules(module: Module, marker: str) -> None:
    extra = {"pro_only": True, "adult": True} if module is Module.PARTNER else {}
    persona = make_persona(module=module, **extra)
    text = PromptBuilder().render_system(SystemPromptContext(persona=persona, language="en"))
    assert marker in text
    assert "Reply in English only" in text


def test_budget_keeps_the_most_recent_turns_and_reports_what_fell_out() -> None:
    builder = PromptBuilder()
    ctx = SystemPromptContext(persona=make_persona(), language="en")
    plan = builder.plan(
        ctx,
        history(40),
        "and now?",
        count_tokens=words,
        context_window=4000,
        reply_tokens=200,
        history_budget=100,
    )
    # 10 words + 8 overhead per turn: 5 turns fit in 100 tokens.
    assert plan.oldest_included_seq == 36
    assert plan.messages[0].role is Role.SYSTEM
    assert plan.messages[-1].content.endswith("and now?")
    assert "m40" in plan.messages[-2].content
    assert all("m35" not in m.content for m in plan.messages)


def test_adjacent_user_turns_are_merged() -> None:
    msgs = history(3)  # user, assistant, user (the last reply failed)
    plan = PromptBuilder().plan(
        SystemPromptContext(persona=make_persona(), language="en"),
        msgs,
        "hello?",
        count_tokens=words,
        context_window=4000,
        reply_tokens=100,
        history_budget=1000,
    )
    roles = [m.role for m in plan.messages]
    assert roles == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER]
    assert plan.messages[-1].content.startswith("m3") and plan.messages[-1].content.endswith(
        "hello?"
    )


def test_long_memory_is_trimmed_before_the_conversation() -> None:
    facts = [f"Fact number {i} about the user with quite a few words in it." for i in range(200)]
    ctx = SystemPromptContext(persona=make_persona(), language="en", facts=facts)
    plan = PromptBuilder().plan(
        ctx,
        history(4),
        "hi",
        count_tokens=words,
        context_window=1500,
        reply_tokens=200,
        history_budget=500,
    )
    system = plan.messages[0].content
    assert "Fact number 0 " in system  # most relevant facts come first and survive
    assert "Fact number 199" not in system
    assert plan.oldest_included_seq == 1  # the conversation itself still fits


def test_impossible_budget_is_a_clear_error() -> None:
    ctx = SystemPromptContext(persona=make_persona(), language="en")
    with pytest.raises(PromptTooLargeError):
        PromptBuilder().plan(
            ctx,
            [],
            "hi",
            count_tokens=words,
            context_window=60,
            reply_tokens=20,
            history_budget=10,
        )


def test_character_card_placeholders_are_resolved() -> None:
    persona = make_persona(scenario="{{char}} waits for {{user}} at the station.")
    builder = PromptBuilder()
    named = builder.render_system(
        SystemPromptContext(persona=persona, language="en", user_name="Oleg")
    )
    assert "Anna waits for Oleg at the station." in named
    anonymous = builder.render_system(SystemPromptContext(persona=persona, language="en"))
    assert "Anna waits for the user at the station." in anonymous
    assert "{{" not in anonymous
