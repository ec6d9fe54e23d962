from __future__ import annotations

from datetime import date

import pytest

from companion.memory.dates import resolve_date
from companion.memory.text import normalize, text_hash, tokenize


def test_tokenize_stems_english_and_russian_and_drops_stopwords() -> None:
    assert tokenize("The user lives in Kazan") == ["live", "kazan"]
    assert tokenize("Пользователь переехал в Казань") == tokenize("переехала в Казани")


def test_normalize_and_hash_ignore_case_punctuation_and_yo() -> None:
    assert normalize("  The user's  cat is called Tom! ") == "the user s cat is called tom"
    assert text_hash("Пользователь живёт в Казани.") == text_hash("пользователь живет в казани")
    assert text_hash("lives in Kazan") != text_hash("lives in Moscow")


MONDAY = date(2026, 3, 2)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("tomorrow", date(2026, 3, 3)),
        ("Завтра", date(2026, 3, 3)),
        ("послезавтра", date(2026, 3, 4)),
        ("yesterday", date(2026, 3, 1)),
        ("in 3 days", date(2026, 3, 5)),
        ("через 2 недели", date(2026, 3, 16)),
        ("2 weeks ago", date(2026, 2, 16)),
        ("next friday", date(2026, 3, 6)),
        ("в пятницу", date(2026, 3, 6)),
        ("monday", date(2026, 3, 9)),  # said on a Monday: the next one
        ("2026-05-01", date(2026, 5, 1)),
        ("2026-02-30", None),
        ("some day", None),
        (None, None),
    ],
)
def test_resolve_date(expression: str | None, expected: date | None) -> None:
    assert resolve_date(expression, MONDAY) == expected
