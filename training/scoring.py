"""The persona check's scorer: does a reply stay in character, and in the right language?

Deliberately simple and transparent, so a number in a report can be traced to a rule:

* **in character** — the reply is non-empty, and
  - contains none of the character-break patterns below (the model talking about itself as
    an AI, a language model, a bot, ChatGPT/OpenAI, in English or Russian);
  - contains none of the run's `evaluation.forbidden_phrases` (case-insensitive substrings);
  - when it names itself ("my name is X", "call me X", "меня зовут X", "зови меня X"), X is
    one of the persona's names (any language).
* **right language** — the reply's script-based tag (training/data/language.py) equals the
  language the prompt was asked in.

It cannot judge tone, helpfulness or subtle drift; it catches the loud failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from companion.domain.personas import Persona
from companion.personas.character_rules import BREAK_PATTERNS, NAME_PATTERNS
from training.data.language import tag_language


@dataclass(frozen=True)
class Verdict:
    in_character: bool
    language_ok: bool
    reasons: list[str] = field(default_factory=list)


def persona_names(persona: Persona) -> set[str]:
    value = persona.name.root
    names = [value] if isinstance(value, str) else list(value.values())
    return {name.casefold() for full in names for name in full.split()}


def score_reply(
    reply: str, persona: Persona, language: str, forbidden_phrases: Sequence[str] = ()
) -> Verdict:
    reasons: list[str] = []
    text = reply.strip()
    if not text:
        reasons.append("empty reply")
    for pattern in BREAK_PATTERNS:
        match = pattern.search(text)
        if match:
            reasons.append(f"character break: {match.group(0)!r}")
    lowered = text.casefold()
    for phrase in forbidden_phrases:
        if phrase.casefold() in lowered:
            reasons.append(f"forbidden phrase: {phrase!r}")
    names = persona_names(persona)
    for pattern in NAME_PATTERNS:
        for match in pattern.finditer(text):
            if match.group(1).casefold() not in names:
                reasons.append(f"wrong name: {match.group(1)!r}")
    tag = tag_language(text)
    language_ok = tag == language
    if not language_ok:
        reasons.append(f"language {tag!r}, expected {language!r}")
    in_character = not any(not r.startswith("language ") for r in reasons)
    return Verdict(in_character=in_character, language_ok=language_ok, reasons=reasons)
