"""Grammatical forms for texts that mention a persona: the name in every case, "с"/"со" before
it, and the form of address (ты/вы).

Russian declines names: "Говорить со Львом", "Снова с Верой", not "с Лев". A card may spell the
cases out (`name_forms: {ru: {ins: Львом}}`); a case it leaves out comes from pymorphy3 for
words the dictionary knows as first names or surnames; anything else (Кайли, Нова) is left as
written, which is how Russian treats foreign names it cannot decline.

The locale texts receive these as Fluent variables (`persona_text_args`): ``$name`` (nominative),
``$name_gen``, ``$name_dat``, ``$name_acc``, ``$name_ins``, ``$name_pre``, ``$with`` ("с"/"со"
before the instrumental), ``$with_name`` ("со Львом" / "with Leo") and ``$address`` ("ty" or
"vy", for Fluent selectors).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from companion.domain.personas import Module, Persona

log = logging.getLogger(__name__)

CASES = ("nom", "gen", "dat", "acc", "ins", "pre")
_PYMORPHY_CASES = {
    "nom": "nomn",
    "gen": "gent",
    "dat": "datv",
    "acc": "accs",
    "ins": "ablt",
    "pre": "loct",
}
# ты for the warm, personal modules; вы where the persona is a public figure or a tutor-like
# role unless the card says otherwise.
MODULE_ADDRESS = {
    Module.SUPPORT: "ty",
    Module.PARTNER: "ty",
    Module.PRACTICE: "ty",
    Module.CELEBRITY: "vy",
}
DEFAULT_ADDRESS = "vy"  # before a persona is chosen (onboarding, settings): polite
# Russian texts said in a persona's voice: each selects on $address ("ty" / "vy") and every
# place that renders one passes `address_of(persona)`: the Translator refuses to render them
# without it (`AddressMissingError`), and a test checks every call site in the code. The bot's
# own texts (onboarding, billing, legal, settings) say "вы" and take no $address
# (tests/unit/personas/test_address_keys.py; this list must equal `Translator.addressed_keys`).
PERSONA_VOICED_KEYS = (
    "support-disclaimer",
    "crisis-reply",
    "persona-started",
    "outreach-after-crisis",
    "mood-help-offer",
)


@functools.cache
def _morph() -> Any:
    import pymorphy3  # type: ignore[import-untyped]

    return pymorphy3.MorphAnalyzer(lang="ru")


def _decline_word(word: str, case: str) -> str:
    try:
        parses = _morph().parse(word)
    except ImportError:  # pragma: no cover - pymorphy3 is a core dependency
        return word
    parse = next((p for p in parses if {"Name", "Surn"} & set(p.tag.grammemes)), None)
    if parse is None:
        return word  # not a name the dictionary knows: keep it as written
    inflected = parse.inflect({_PYMORPHY_CASES[case]})
    if inflected is None:
        return word
    form = str(inflected.word)
    return form[:1].upper() + form[1:] if word[:1].isupper() else form


@functools.lru_cache(maxsize=4096)
def decline_name(name: str, case: str) -> str:
    """`name` (one or more words) in `case`, by the morphology dictionary."""
    if case == "nom":
        return name
    return " ".join(_decline_word(word, case) for word in name.split())


def name_forms(persona: Persona, language: str) -> dict[str, str]:
    """Every case of the persona's name in `language` (the same word where none declines)."""
    name = persona.display_name(language)
    given = persona.name_forms.get(language)
    forms: dict[str, str] = {}
    for case in CASES:
        spelled = getattr(given, case, None) if given is not None else None
        if spelled:
            forms[case] = spelled
        elif language == "ru":
            forms[case] = decline_name(name, case)
        else:
            forms[case] = name
    forms["nom"] = forms["nom"] or name
    return forms


def with_preposition(instrumental: str) -> str:
    """ "с" or "со" before a Russian word in the instrumental: "со Львом", "с Верой"."""
    word = instrumental.strip().lower()
    consonants = "бвгджзйклмнпрстфхцчшщ"
    # "со" before с/з/ш/ж/щ + consonant ("со Светланой", "со Златой"), before "щ", and before
    # the clusters where a fleeting vowel dropped (Лев -> Львом), мн/вс/вт ("со мной").
    if word.startswith(("льв", "мн", "вс", "вт", "щ")) or (
        len(word) > 1 and word[0] in "сзшж" and word[1] in consonants
    ):
        return f"со {instrumental}"
    return f"с {instrumental}"


def address_of(persona: Persona | None) -> str:
    """ "ty" or "vy": the card's choice, else its module's."""
    if persona is None:
        return DEFAULT_ADDRESS
    return persona.address or MODULE_ADDRESS.get(persona.module, DEFAULT_ADDRESS)


def persona_text_args(
    persona: Persona, language: str, *, escape: Callable[[str], str] | None = None
) -> dict[str, str]:
    """Fluent variables for a text about `persona`; `escape` (e.g. html.escape) applies to the
    name forms, which come from a card."""
    clean = escape or (lambda text: text)
    forms = name_forms(persona, language)
    args = {"name": clean(forms["nom"])}
    for case in CASES[1:]:
        args[f"name_{case}"] = clean(forms[case])
    if language == "ru":
        phrase = with_preposition(forms["ins"])
        args["with"] = phrase.split(" ", 1)[0]
    else:
        phrase = f"with {forms['nom']}"
        args["with"] = "with"
    args["with_name"] = clean(phrase)
    args["address"] = address_of(persona)
    return args
