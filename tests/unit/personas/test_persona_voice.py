"""The card's ``voice`` (voice replies): engine-neutral ids per language, checked on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from companion.domain.personas import VOICE_IDS, Persona
from companion.personas.repository import PersonaRepository, packaged_library_dir


def card(**extra: Any) -> dict[str, Any]:
    return {
        "id": "bob",
        "name": "Bob",
        "module": "support",
        "languages": ["ru", "en"],
        "preview": "Bob.",
        "description": "Bob.",
        "personality": "Calm.",
        "speaking_style": "Short.",
        "scenario": "Chat.",
        "greetings": {"ru": ["Привет!"], "en": ["Hi!"]},
        **extra,
    }


def test_voice_per_language_with_the_deployments_default_for_the_rest() -> None:
    persona = Persona.model_validate(card(voice={"ru": "male-deep"}))
    assert persona.voice_for("ru", "female-warm") == "male-deep"
    assert persona.voice_for("en", "female-warm") == "female-warm"
    assert Persona.model_validate(card()).voice_for("ru", "male-warm") == "male-warm"


@pytest.mark.parametrize(
    ("voice", "message"),
    [({"en": "robot"}, "unknown voice 'robot'"), ({"de": "male-deep"}, "unknown language 'de'")],
)
def test_unknown_voices_and_languages_are_refused(voice: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Persona.model_validate(card(voice=voice))


def test_the_cli_validation_reports_a_bad_voice_with_its_line(tmp_path: Path) -> None:
    text = (packaged_library_dir() / "vera.yaml").read_text(encoding="utf-8")
    bad = text.replace("voice: {ru: female-warm, en: female-warm}", "voice: {ru: whisper}")
    assert bad != text
    (tmp_path / "vera.yaml").write_text(bad, encoding="utf-8")
    repository = PersonaRepository(tmp_path)
    repository.load_all()
    [issue] = repository.errors
    assert issue.field_path == "voice" and "unknown voice 'whisper'" in issue.message
    assert issue.line is not None


def test_every_shipped_persona_names_a_voice_for_each_of_its_languages() -> None:
    repository = PersonaRepository(packaged_library_dir())
    repository.load_all()
    assert not repository.errors
    for persona in repository.all():
        assert set(persona.voice) == set(persona.languages), persona.id
        assert set(persona.voice.values()) <= set(VOICE_IDS)


@pytest.mark.parametrize("version", [2, 3])
def test_the_voice_survives_a_character_card_export_and_import(version: int) -> None:
    from companion.personas.cards import card_from_persona, persona_from_card

    persona = Persona.model_validate(card(voice={"ru": "male-deep", "en": "male-bright"}))
    exported = card_from_persona(persona, version=version)  # type: ignore[arg-type]
    again = persona_from_card(exported)
    assert again.voice == {"ru": "male-deep", "en": "male-bright"}
