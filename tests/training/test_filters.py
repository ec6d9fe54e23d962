from __future__ import annotations

import random

from training.data.filters import content_key, deduplicate, filter_length, split_train_eval
from training.data.language import cyrillic_ratio, tag_language
from training.data.records import Example, Role, Turn


def ex(user: str, reply: str, system: str | None = None) -> Example:
    turns = [Turn(role=Role.SYSTEM, content=system)] if system else []
    turns += [Turn(role=Role.USER, content=user), Turn(role=Role.ASSISTANT, content=reply)]
    return Example(messages=turns, source="t")


def test_language_tag_by_cyrillic_ratio() -> None:
    assert tag_language("Привет, как дела?") == "ru"
    assert tag_language("Hello there") == "en"
    assert tag_language("Я очень люблю Python") == "ru"  # 11 Cyrillic of 17 letters
    assert tag_language("Я люблю Python и Go") == "en"  # 7 Cyrillic of 15 letters
    assert tag_language("I love борщ very much") == "en"
    assert tag_language("你好世界") == "other"
    assert tag_language("12345 !!!") == "und"
    assert cyrillic_ratio("абвг abcd") == 0.5
    assert cyrillic_ratio("...") is None


def test_dedup_normalises_case_spacing_and_ignores_system_prompt() -> None:
    a = ex("Hello   there", "General Kenobi")
    b = ex("hello there", "general  kenobi", system="You are Mila.")
    c = ex("hello there", "general kenobi!")
    assert content_key(a) == content_key(b) != content_key(c)
    assert deduplicate([a, b, c, a]) == [a, c]


def test_length_filter_keeps_what_fits() -> None:
    items = [ex("a" * n, "b") for n in (1, 5, 10)]
    kept, lengths = filter_length(items, lambda e: len(e.dialogue_text()), max_tokens=7)
    assert kept == items[:2]
    assert lengths == [3, 7]


def test_split_is_deterministic_and_order_independent() -> None:
    items = [ex(f"question {i}", f"answer {i}") for i in range(40)]
    train, evaluation = split_train_eval(items, 0.1, seed=1)
    assert len(evaluation) == 4 and len(train) == 36
    assert not {content_key(e) for e in train} & {content_key(e) for e in evaluation}
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    assert split_train_eval(shuffled, 0.1, seed=1) == (train, evaluation)
    _, other = split_train_eval(items, 0.1, seed=2)
    assert {content_key(e) for e in other} != {content_key(e) for e in evaluation}


def test_split_edge_cases() -> None:
    items = [ex("q1", "a1"), ex("q2", "a2")]
    assert split_train_eval(items, 0.0, seed=1)[1] == []
    train, evaluation = split_train_eval(items, 0.01, seed=1)
    assert len(evaluation) == 1 and len(train) == 1  # at least one, never all
    assert split_train_eval(items[:1], 0.5, seed=1) == (items[:1], [])
