"""Language tagging by script, kept deliberately simple and predictable.

The tag is the share of Cyrillic letters among all letters: at least half Cyrillic is "ru",
at least half Latin is "en", anything else (other scripts) is "other", and text without
letters is "und". It cannot tell English from other Latin-script languages, so sources with
several Latin-script languages must be filtered by their declared language (OASST `lang`).
"""

from __future__ import annotations


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff"


def _is_latin(char: str) -> bool:
    return ("a" <= char.lower() <= "z") or ("\u00c0" <= char <= "\u024f")


def cyrillic_ratio(text: str) -> float | None:
    """Share of Cyrillic letters among letters, None when the text has no letters."""
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return None
    return sum(1 for char in letters if _is_cyrillic(char)) / len(letters)


def tag_language(text: str) -> str:
    letters = [char for char in text if char.isalpha()]
    if not letters:
        return "und"
    cyrillic = sum(1 for char in letters if _is_cyrillic(char)) / len(letters)
    if cyrillic >= 0.5:
        return "ru"
    latin = sum(1 for char in letters if _is_latin(char)) / len(letters)
    return "en" if latin >= 0.5 else "other"
