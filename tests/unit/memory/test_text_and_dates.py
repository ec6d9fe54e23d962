from __future__ import annotations

from datetime import date

import pytest

from companion.memory.dates import find_windows, resolve_date
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
        ("March 20th", date(2026, 3, 20)),
        ("20 марта", date(2026, 3, 20)),
        ("on the 1st of February", date(2026, 2, 1)),  # said in March: the one just past
        ("20.03.2026", date(2026, 3, 20)),
        ("may 5th", date(2026, 5, 5)),
        ("some day", None),
        (None, None),
    ],
)
def test_resolve_date(expression: str | None, expected: date | None) -> None:
    assert resolve_date(expression, MONDAY) == expected


WEDNESDAY = date(2026, 6, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What did I do last weekend?", [(date(2026, 5, 30), date(2026, 5, 31))]),
        ("Что я делал в прошлые выходные?", [(date(2026, 5, 30), date(2026, 5, 31))]),
        ("yesterday we went to the lake", [(date(2026, 6, 2), date(2026, 6, 2))]),
        ("позавчера была гроза", [(date(2026, 6, 1), date(2026, 6, 1))]),
        ("two weeks ago I started a new job", [(date(2026, 5, 17), date(2026, 5, 23))]),
        ("три недели назад", [(date(2026, 5, 8), date(2026, 5, 18))]),
        ("last tuesday", [(date(2026, 6, 2), date(2026, 6, 2))]),
        ("в прошлую пятницу", [(date(2026, 5, 29), date(2026, 5, 29))]),
        ("на прошлой неделе", [(date(2026, 5, 24), date(2026, 5, 30))]),
        ("in March", [(date(2026, 3, 1), date(2026, 3, 31))]),
        ("в декабре", [(date(2025, 12, 1), date(2025, 12, 31))]),  # the last December
        ("in may 2025", [(date(2025, 5, 1), date(2025, 5, 31))]),
        # Spans up to the day asked, not points in time.
        ("What did I buy in the past two weeks?", [(date(2026, 5, 20), date(2026, 6, 3))]),
        ("over the past month", [(date(2026, 5, 4), date(2026, 6, 3))]),
        ("in the last 3 months", [(date(2026, 3, 5), date(2026, 6, 3))]),
        ("за последние две недели", [(date(2026, 5, 20), date(2026, 6, 3))]),
        ("earlier this week", [(date(2026, 6, 1), date(2026, 6, 3))]),
        ("в этом месяце", [(date(2026, 6, 1), date(2026, 6, 3))]),
        ("in the month of February", [(date(2026, 2, 1), date(2026, 2, 28))]),
        # Calendar days; without a year, the occurrence nearest the day it was said.
        ("on the 17th and 18th of April", [(date(2026, 4, 17), date(2026, 4, 18))]),
        ("my exam is on June 10th", [(date(2026, 6, 10), date(2026, 6, 10))]),
        ("I was there on Dec 28", [(date(2025, 12, 28), date(2025, 12, 28))]),
        ("born on March 3, 1990", [(date(1990, 3, 3), date(1990, 3, 3))]),
        ("17-го апреля", [(date(2026, 4, 17), date(2026, 4, 17))]),
        ("с 1 по 3 мая", [(date(2026, 5, 1), date(2026, 5, 3))]),
        ("the call is on 2026-07-01", [(date(2026, 7, 1), date(2026, 7, 1))]),
        ("встреча 05.07.2026 в десять", [(date(2026, 7, 5), date(2026, 7, 5))]),
        ("version 1.2.2026 and 31.02.2026", []),
        ("you may 3D-print it, these 2 may work, 30 February", []),
        ("back on 2 May", [(date(2026, 5, 2), date(2026, 5, 2))]),
        ("How many days ago did I meet Emma?", []),  # asks for the span, names none
        ("May I ask you something?", []),
        ("nothing about time here", []),
    ],
)
def test_find_windows(text: str, expected: list[tuple[date, date]]) -> None:
    assert find_windows(text, WEDNESDAY) == expected
