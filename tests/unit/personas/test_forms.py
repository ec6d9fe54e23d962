"""Persona name cases and the form of address for Russian texts."""

from __future__ import annotations

from typing import Any

import pytest

from companion.domain.personas import Persona
from companion.personas.forms import address_of, name_forms, persona_text_args, with_preposition


def _card(name: str, module: str = "support", **extra: Any) -> Persona:
    return Persona.model_validate(
        {
            "id": "p1",
            "name": {"ru": name, "en": "Leo"},
            "module": module,
            "languages": ["ru", "en"],
            "preview": "x",
            "description": "x",
            "personality": "x",
            "speaking_style": "x",
            "scenario": "x",
            "greetings": {"ru": ["Привет"], "en": ["Hi"]},
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("instrumental", "phrase"),
    [
        ("Львом", "со Львом"),
        ("Верой", "с Верой"),
        ("Светланой", "со Светланой"),
        ("Сашей", "с Сашей"),
        ("Шерлоком Холмсом", "с Шерлоком Холмсом"),
        ("Златой", "со Златой"),
        ("Кайли", "с Кайли"),
    ],
)
def test_with_preposition(instrumental: str, phrase: str) -> None:
    assert with_preposition(instrumental) == phrase


def test_morphology_declines_a_known_name_when_the_card_gives_no_forms() -> None:
    forms = name_forms(_card("Лев"), "ru")
    assert forms == {
        "nom": "Лев",
        "gen": "Льва",
        "dat": "Льву",
        "acc": "Льва",
        "ins": "Львом",
        "pre": "Льве",
    }


def test_forms_from_the_card_win_and_the_rest_is_filled_in() -> None:
    card = _card("Нова Рэй", name_forms={"ru": {"ins": "Нова Рэй", "gen": "Нова Рэй"}})
    forms = name_forms(card, "ru")
    assert forms["ins"] == "Нова Рэй" and forms["gen"] == "Нова Рэй"


def test_unknown_foreign_name_is_left_as_written() -> None:
    assert name_forms(_card("Кайли"), "ru")["ins"] == "Кайли"


def test_text_args_are_escaped_and_carry_the_address() -> None:
    args = persona_text_args(_card("Лев"), "ru", escape=lambda s: s.replace("Л", "&L;"))
    assert args["with_name"] == "со &L;ьвом"
    assert args["with"] == "со"
    assert args["address"] == "ty"
    english = persona_text_args(_card("Лев"), "en")
    assert english["with_name"] == "with Leo" and english["name_ins"] == "Leo"


def test_address_comes_from_the_card_else_the_module() -> None:
    assert address_of(_card("Лев")) == "ty"
    assert address_of(_card("Шерлок", module="celebrity")) == "vy"
    assert address_of(_card("Шерлок", module="celebrity", address="ty")) == "ty"
    assert address_of(None) == "vy"
