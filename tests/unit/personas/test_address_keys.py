"""ты/вы in the Russian texts: what a persona says follows its card's form of address, what the
bot itself says (onboarding, billing, legal, settings) says "вы"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fluent.syntax import ast, parse

from companion.i18n import Translator
from companion.personas.forms import PERSONA_VOICED_KEYS

LOCALES = Path(__file__).resolve().parents[3] / "companion" / "locales"
TY_FORMS = re.compile(
    r"(?i)(?<![а-яё])(ты|тебе|тебя|тобой|твой|твоя|твоё|твои|твоих|напиши|расскажи|попробуй|"
    r"выбери|сократи|подтверди|поговори|обратись|позвони|можешь|хочешь|пишешь)(?![а-яё])"
)
VY_FORMS = re.compile(r"(?i)(?<![а-яё])(вы|вам|вас|ваш|ваша|ваши)(?![а-яё])")


def _ru_messages() -> dict[str, str]:
    """Every Russian message's source text by id."""
    found: dict[str, str] = {}
    for path in sorted((LOCALES / "ru").glob("*.ftl")):
        source = path.read_text(encoding="utf-8")
        for entry in parse(source).body:
            if isinstance(entry, ast.Message) and entry.span is not None:
                found.setdefault(entry.id.name, source[entry.span.start : entry.span.end])
    return found


def _address_variants(source: str) -> set[str]:
    variants: set[str] = set()
    for entry in parse(source).body:
        for node in _walk(entry):
            if (
                isinstance(node, ast.SelectExpression)
                and isinstance(node.selector, ast.VariableReference)
                and node.selector.id.name == "address"
            ):
                variants |= {v.key.name for v in node.variants if isinstance(v.key, ast.Identifier)}
    return variants


def _walk(node: object) -> list[object]:
    out = [node]
    if isinstance(node, ast.BaseNode):
        for value in vars(node).values():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.BaseNode):
                    out.extend(_walk(child))
    return out


@pytest.mark.parametrize("key", PERSONA_VOICED_KEYS)
def test_a_persona_voiced_text_has_both_forms(key: str) -> None:
    messages = _ru_messages()
    assert key in messages, f"{key} is missing from locales/ru"
    assert _address_variants(messages[key]) == {"ty", "vy"}, key
    texts = Translator()
    ty = texts.get("ru", key, address="ty", name="Лев", name_ins="Львом", **{"with": "со"})
    vy = texts.get("ru", key, address="vy", name="Лев", name_ins="Львом", **{"with": "со"})
    assert TY_FORMS.search(ty) and not VY_FORMS.search(ty), ty
    assert VY_FORMS.search(vy) and not TY_FORMS.search(vy), vy
    assert texts.get("en", key, address="ty", name="Leo", name_ins="Leo", **{"with": "with"})


def test_every_other_russian_text_says_vy() -> None:
    """A "ты" outside the persona-voiced texts would mix forms in one chat."""
    offenders = {
        key: TY_FORMS.findall(source)
        for key, source in _ru_messages().items()
        if key not in PERSONA_VOICED_KEYS and TY_FORMS.search(source)
    }
    assert offenders == {}
