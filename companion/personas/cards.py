"""Import and export of community Character Cards (V2 ``chara_card_v2``, V3 ``chara_card_v3``).

This module maps a card's fields to a `Persona` and back; reading and writing the JSON and PNG
containers is `companion.personas.card_files`, the ``mes_example`` text
`companion.personas.mes_example`. V3 exports carry a V2 ``chara`` backfill too, as the V3 spec
suggests.

Round trips lose nothing. Card fields a `Persona` has no place for (system_prompt,
character_book, creator, V3 assets, unknown keys...) are kept in
``persona.extensions["character_card"]``; where a card field cannot be rebuilt exactly from the
persona (a ``mes_example`` written in an unusual layout, say) the original text is kept next to
the value the persona would produce, and export uses the original for as long as the persona
still produces that value. Persona fields a card has no place for (speaking style, boundaries,
module, both languages of the texts...) travel in the card's ``data.extensions["companion"]``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ValidationError

from companion.domain.personas import ExampleDialogue, LocalizedText, Module, Persona, Sampling
from companion.personas.card_files import SPEC_V2, SPEC_V3, CardError, card_data
from companion.personas.mes_example import parse_mes_example, render_mes_example

CardVersion = Literal[2, 3]
CARD_KEY = "character_card"  # in Persona.extensions: what the imported card had beyond the persona
COMPANION_KEY = "companion"  # in a card's data.extensions: what the persona has beyond the card
V3_BACKFILL_NOTE = (
    "This character card is Character Card V3, but it is loaded as a Character Card V2. "
    "Please use a Character Card V3 compatible application to use this character card properly."
)

# Card fields rebuilt from persona fields on export; every other field is kept as imported.
_DERIVED = (
    "name",
    "description",
    "personality",
    "scenario",
    "first_mes",
    "mes_example",
    "creator_notes",
    "alternate_greetings",
    "tags",
    "extensions",
)
_V3_ONLY = (
    "assets",
    "nickname",
    "creator_notes_multilingual",
    "source",
    "group_only_greetings",
    "creation_date",
    "modification_date",
)
_V2_DEFAULTS: dict[str, Any] = {
    "system_prompt": "",
    "post_history_instructions": "",
    "creator": "",
    "character_version": "",
}
_FALLBACK_GREETING = {"ru": "Привет!", "en": "Hi!"}


# --- card -> persona -----------------------------------------------------------------------------


def card_version(card: dict[str, Any]) -> CardVersion:
    spec = card.get("spec")
    if spec == SPEC_V3:
        return 3
    if spec == SPEC_V2:
        return 2
    if spec is None and ("first_mes" in card or "name" in card):
        return 2  # a V1 card: the V2 fields without the envelope
    raise CardError(f"unsupported card spec {spec!r}; expected {SPEC_V2} or {SPEC_V3}")


def detect_language(text: str) -> str:
    """ "ru" when Cyrillic letters make up a good share of the text, else "en"."""
    cleaned = re.sub(r"\{\{[^}]*\}\}|<[^>]*>", " ", text)
    cyrillic = len(re.findall(r"[А-Яа-яЁё]", cleaned))
    latin = len(re.findall(r"[A-Za-z]", cleaned))
    return "ru" if cyrillic and cyrillic >= 0.3 * (cyrillic + latin) else "en"


def slugify(text: str) -> str:
    """A persona id from a name: latin lowercase, digits and dashes (Cyrillic transliterated)."""
    translit = str.maketrans(
        {
            "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
            "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
            "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
            "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
            "я": "ya",
        }
    )  # fmt: skip
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower().translate(translit)).strip("-")[:48].strip("-")
    return slug if len(slug) >= 2 else "imported-card"


def persona_from_card(
    card: dict[str, Any],
    *,
    module: Module | None = None,
    persona_id: str | None = None,
) -> Persona:
    """A persona from a card; ``module`` overrides the one a Companion export carried (default
    Support)."""
    version = card_version(card)
    data = dict(card_data(card))
    raw_extensions = data.get("extensions")
    card_extensions = dict(raw_extensions) if isinstance(raw_extensions, dict) else {}
    blob = card_extensions.pop(COMPANION_KEY, None)
    companion: dict[str, Any] = blob if isinstance(blob, dict) else {}

    name = _text(data.get("name"))
    sample = " ".join(
        _text(data.get(key)) for key in ("name", "description", "personality", "first_mes")
    )
    languages = _languages(companion.get("languages")) or [detect_language(sample)]
    primary = companion.get("card_language")
    if primary not in languages:
        primary = languages[0]

    chosen_module = module or _module(companion.get("module")) or Module.SUPPORT
    same_module = chosen_module == _module(companion.get("module"))
    partner = chosen_module is Module.PARTNER
    greetings_in_card = [_text(data.get("first_mes")), *_texts(data.get("alternate_greetings"))]
    mes_example = _text(data.get("mes_example"))
    creator_notes = _text(data.get("creator_notes"))

    fields: dict[str, Any] = {
        "id": persona_id or companion.get("id") or slugify(name),
        "name": _localized(companion.get("name"), primary, name) or name or "Unnamed",
        "module": chosen_module,
        "languages": languages,
        "preview": _localized(companion.get("preview"), primary, creator_notes)
        or _preview_from(creator_notes, _text(data.get("description")), name),
        "description": _text(data.get("description")),
        "personality": _text(data.get("personality")),
        "speaking_style": _text(companion.get("speaking_style")),
        "scenario": _text(data.get("scenario")),
        "greetings": _greetings(companion.get("greetings"), primary, greetings_in_card),
        "example_dialogues": _dialogues(companion.get("example_dialogues"), primary, mes_example)
        or parse_mes_example(mes_example, language=primary, char_name=name),
        "boundaries": _texts(companion.get("boundaries")),
        "lora_adapter": _text(companion.get("lora_adapter")) or None,
        "sampling": companion.get("sampling")
        if isinstance(companion.get("sampling"), dict)
        else Sampling(),
        "pro_only": partner or (same_module and companion.get("pro_only") is True),
        "adult": partner or (same_module and companion.get("adult") is True),
        "tags": _texts(data.get("tags")),
        "voice": companion.get("voice") if isinstance(companion.get("voice"), dict) else {},
    }
    extensions = companion.get("extensions")
    stash: dict[str, Any] = {
        "spec": card.get("spec"),
        "spec_version": card.get("spec_version"),
        "top_level": {k: v for k, v in card.items() if k not in {"spec", "spec_version", "data"}}
        if "data" in card
        else {},
        "data": {k: v for k, v in data.items() if k not in _DERIVED},
        "card_extensions": card_extensions,
        "card_language": primary,
    }
    fields["extensions"] = {**(extensions if isinstance(extensions, dict) else {}), CARD_KEY: stash}
    try:
        persona = Persona.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'card'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CardError(f"card cannot become a persona: {problems}") from exc

    # Remember originals that the persona cannot reproduce, with what it produces instead.
    rebuilt = card_data(card_from_persona(persona, version=version, language=primary))
    originals: dict[str, Any] = {}
    for key in sorted(set(data) | set(rebuilt)):
        if key not in data or key not in rebuilt or data[key] != rebuilt[key]:
            originals[key] = {
                "original": {"value": data[key]} if key in data else {"absent": True},
                "rebuilt": {"value": rebuilt[key]} if key in rebuilt else {"absent": True},
            }
    if originals:
        stash["originals"] = originals
        persona = persona.model_copy(update={"extensions": {**persona.extensions, CARD_KEY: stash}})
    return persona


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _languages(value: Any) -> list[str]:
    return [lang for lang in _texts(value) if lang in ("ru", "en")]


def _module(value: Any) -> Module | None:
    try:
        return Module(value)
    except ValueError:
        return None


def _localized(value: Any, language: str, card_value: str) -> str | dict[str, str] | None:
    """The Companion-side localized text, if it still agrees with what the card says."""
    if not isinstance(value, (str, dict)) or not value:
        return None
    try:
        text = LocalizedText.model_validate(value)
    except ValidationError:
        return None
    return text.root if text.get(language) == card_value else None


def _preview_from(creator_notes: str, description: str, name: str) -> str:
    for source in (creator_notes, description):
        first = source.strip().split("\n\n")[0].strip()
        if first:
            return first if len(first) <= 200 else first[:199].rstrip() + "…"
    return name or "Imported character"


def _greetings(value: Any, language: str, in_card: list[str]) -> dict[str, list[str]]:
    if isinstance(value, dict) and value.get(language) == in_card:
        return {k: _texts(v) for k, v in value.items() if isinstance(k, str)}
    usable = [greeting for greeting in in_card if greeting.strip()]
    return {language: usable or [_FALLBACK_GREETING.get(language, "Hi!")]}


def _dialogues(value: Any, language: str, mes_example: str) -> list[ExampleDialogue] | None:
    if not isinstance(value, list):
        return None
    try:
        dialogues = [ExampleDialogue.model_validate(item) for item in value]
    except ValidationError:
        return None
    return dialogues if _render_for_card(dialogues, language) == mes_example else None


# --- persona -> card -----------------------------------------------------------------------------


def card_from_persona(
    persona: Persona, *, version: CardVersion = 2, language: str | None = None
) -> dict[str, Any]:
    """The card for a persona; a persona imported from a card gives that card back unchanged."""
    stash = persona.extensions.get(CARD_KEY)
    stash = stash if isinstance(stash, dict) else {}
    spec = SPEC_V3 if version == 3 else SPEC_V2
    primary = language or stash.get("card_language")
    if primary not in persona.languages:
        primary = "en" if "en" in persona.languages else persona.languages[0]

    greetings = persona.greetings.get(primary) or next(iter(persona.greetings.values()))
    data: dict[str, Any] = {
        "name": persona.name.get(primary),
        "description": persona.description,
        "personality": persona.personality,
        "scenario": persona.scenario,
        "first_mes": greetings[0],
        "mes_example": _render_for_card(persona.example_dialogues, primary),
        "creator_notes": persona.preview.get(primary),
        **_V2_DEFAULTS,
        "alternate_greetings": list(greetings[1:]),
        "tags": list(persona.tags),
        "extensions": {
            **dict(stash.get("card_extensions") or {}),
            COMPANION_KEY: _companion_blob(persona, primary),
        },
    }
    kept = dict(stash.get("data") or {})
    if version == 2:
        kept = {k: v for k, v in kept.items() if k not in _V3_ONLY}
    data.update(kept)
    if version == 3:
        data.setdefault("group_only_greetings", [])
        if isinstance(persona.preview.root, dict) and "creator_notes_multilingual" not in kept:
            data["creator_notes_multilingual"] = dict(persona.preview.root)

    for key, entry in dict(stash.get("originals") or {}).items():
        rebuilt, original = entry.get("rebuilt", {}), entry.get("original", {})
        now_absent = key not in data
        if now_absent != bool(rebuilt.get("absent")) or data.get(key) != rebuilt.get("value"):
            continue  # the persona was edited since the import: its own value wins
        if original.get("absent"):
            data.pop(key, None)
        else:
            data[key] = original.get("value")

    same_spec = stash.get("spec") == spec
    card: dict[str, Any] = {
        "spec": spec,
        "spec_version": stash.get("spec_version")
        if same_spec and stash.get("spec_version")
        else ("3.0" if version == 3 else "2.0"),
        "data": data,
    }
    if same_spec:
        card.update(stash.get("top_level") or {})
    return card


def v2_backfill(persona: Persona, *, language: str | None = None) -> dict[str, Any]:
    """The V2 card written next to a V3 one in PNGs, flagged as a backfill in creator_notes."""
    card = card_from_persona(persona, version=2, language=language)
    notes = card["data"].get("creator_notes") or ""
    card["data"]["creator_notes"] = f"{V3_BACKFILL_NOTE}\n\n{notes}".strip()
    return card


def _render_for_card(dialogues: list[ExampleDialogue], language: str | None) -> str:
    chosen = [d for d in dialogues if language is None or d.language == language]
    return render_mes_example(chosen or dialogues)


def _companion_blob(persona: Persona, primary: str) -> dict[str, Any]:
    dumped = persona.model_dump(mode="json")
    blob = {
        key: dumped[key]
        for key in (
            "id",
            "module",
            "languages",
            "name",
            "preview",
            "greetings",
            "example_dialogues",
            "speaking_style",
            "boundaries",
            "lora_adapter",
            "sampling",
            "pro_only",
            "adult",
            "voice",
        )
    }
    blob["card_language"] = primary
    own = {k: v for k, v in persona.extensions.items() if k != CARD_KEY}
    if own:
        blob["extensions"] = own
    return blob
