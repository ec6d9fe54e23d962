"""The names of the people in the conversation, left out of what memory is asked.

A message that names the persona ("Лео, помнишь, что я говорила про сестру?") or a question
that names a speaker ("What did Caroline paint?") carries the name, but the records it should
find do not: a speaker's own words never name her. The records that do hold the name are the
ones where someone is addressed ("Hi Leo!", "Thanks, Caroline!"), and the embedder pulls those
up: on a generated set turned into a two-person dialogue, names in the questions took dense
recall @10 from 0.82 to 0.45 (BENCHMARKS.md, "Memory: the names of the speakers"). So recall
searches with the participants' names taken out of the query; the names of anyone else ("my
sister Anna") stay.

The forms come from `participant_names` (the persona's name in each of its languages and every
case, `companion.personas.forms`; the user's first name declined by the same dictionary);
a word is taken out when it is one of them, with an English possessive ('s) too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from companion.domain.models import User
from companion.domain.personas import Persona
from companion.personas.forms import CASES, decline_name, name_forms

_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.!?;:])")
_COMMA_BEFORE_PUNCTUATION = re.compile(r",+([.!?;:])")
_LEADING_PUNCTUATION = re.compile(r"^[\s,;:]+")
_LETTER = re.compile(r"[^\W\d_]")


def without_names(text: str, names: Iterable[str]) -> str:
    """`text` with every whole-word occurrence of `names` (any case, optionally with 's) taken
    out; `text` itself when nothing but the names (and punctuation) would remain."""
    words = sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)
    if not words:
        return text
    pattern = re.compile(
        r"(?<![\w'’-])(?:" + "|".join(map(re.escape, words)) + r")(?:['’]s)?(?![\w-])",
        re.IGNORECASE,
    )
    stripped = pattern.sub(" ", text)
    if stripped == text:
        return text
    stripped = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _SPACES.sub(" ", stripped)).strip()
    stripped = _COMMA_BEFORE_PUNCTUATION.sub(r"\1", stripped)  # "Спасибо, Лёва!" -> "Спасибо!"
    stripped = _LEADING_PUNCTUATION.sub("", stripped)
    return stripped if _LETTER.search(stripped) else text


def participant_names(user: User, persona: Persona) -> list[str]:
    """Every form of the persona's and the user's names, as they may appear in a message."""
    forms = {
        form for language in persona.languages for form in name_forms(persona, language).values()
    }
    if user.first_name:
        forms.update(decline_name(user.first_name, case) for case in CASES)
    return _with_words(forms)


def name_variants(names: Iterable[str]) -> list[str]:
    """`names` in every grammatical case the morphology dictionary knows (Russian names:
    "Ольга", "Ольге", "Ольгой"...; others stay as written), as `participant_names` gives."""
    return _with_words({decline_name(name, case) for name in names if name for case in CASES})


def _with_words(forms: set[str]) -> list[str]:
    """`forms` and each word of four letters or more of a two-word name on its own
    ("Sherlock", "Holmes"); shorter words ("Ray" of "Nova Ray") are left alone, they are too
    often ordinary words."""
    words = {word for form in forms for word in form.split() if len(word) >= 4}
    return sorted(n for n in forms | words if n)
