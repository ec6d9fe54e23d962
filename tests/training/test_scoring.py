from __future__ import annotations

import pytest

from tests.training.conftest import SAMPLES
from training.data.personas import load_persona_cards
from training.scoring import score_reply

CARDS = load_persona_cards(SAMPLES / "personas")


@pytest.mark.parametrize(
    ("reply", "language", "in_character", "language_ok"),
    [
        ("I'm Mila, and I love old maps. How was your day?", "en", True, True),
        ("Меня зовут Мила. А тебя?", "ru", True, True),
        ("My name is Mila.", "ru", True, False),
        ("As an AI language model, I do not have feelings.", "en", False, True),
        ("I'm just an AI, but I can help.", "en", False, True),
        ("Я всего лишь языковая модель и не могу гулять.", "ru", False, True),
        ("Как ИИ, я не могу этого сделать.", "ru", False, True),
        ("My name is Sophia, nice to meet you!", "en", False, True),
        ("ChatGPT here.", "en", False, True),
        ("", "en", False, False),
    ],
)
def test_scorer_rules(reply: str, language: str, in_character: bool, language_ok: bool) -> None:
    verdict = score_reply(reply, CARDS["mila"], language)
    assert (verdict.in_character, verdict.language_ok) == (in_character, language_ok), verdict


def test_forbidden_phrases_are_case_insensitive() -> None:
    verdict = score_reply("Well, As A Friend I say...", CARDS["max"], "en", ["as a friend"])
    assert not verdict.in_character
    assert verdict.reasons == ["forbidden phrase: 'as a friend'"]
