"""Persona cards for training: read the same YAML files the bot serves, validated the same way."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from companion.domain.personas import Persona


class PersonaCardError(Exception):
    """A persona card that cannot be read; the message names the file and field."""


def load_persona_cards(directory: Path) -> dict[str, Persona]:
    """Every `*.yaml`/`*.yml` card under `directory` (recursively), keyed by persona id."""
    if not directory.is_dir():
        raise PersonaCardError(f"{directory}: persona directory not found")
    yaml = YAML(typ="safe")
    personas: dict[str, Persona] = {}
    files = sorted([*directory.rglob("*.yaml"), *directory.rglob("*.yml")])
    for path in files:
        try:
            data = yaml.load(path.read_text(encoding="utf-8"))
            persona = Persona.model_validate(data)
        except YAMLError as error:
            raise PersonaCardError(f"{path}: not valid YAML: {error}") from None
        except ValidationError as error:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors()
            )
            raise PersonaCardError(f"{path}: {fields}") from None
        if persona.id in personas:
            raise PersonaCardError(f"{path}: persona id {persona.id!r} is used by two cards")
        personas[persona.id] = persona
    return personas


def select_personas(cards: dict[str, Persona], ids: list[str]) -> dict[str, Persona]:
    """The cards named in `ids` (all cards when empty); unknown ids are an error."""
    if not ids:
        return dict(cards)
    missing = [persona_id for persona_id in ids if persona_id not in cards]
    if missing:
        raise PersonaCardError(f"persona id(s) {missing} not found among {sorted(cards)}")
    return {persona_id: cards[persona_id] for persona_id in ids}
