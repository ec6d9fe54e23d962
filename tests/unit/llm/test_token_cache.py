"""The token counter cache: same answers as the counter, each long text counted once."""

from __future__ import annotations

from companion.llm.token_cache import CachedTokenCounter
from companion.llm.token_estimate import estimate_tokens


def test_counts_match_the_counter_and_long_texts_are_counted_once() -> None:
    calls: list[str] = []

    def counter(text: str) -> int:
        calls.append(text)
        return estimate_tokens(text)

    cached = CachedTokenCounter(counter, size=2)
    long_en = "I walked the dog along the river this morning, and it rained. " * 3
    long_ru = "Сегодня я гуляла с собакой вдоль реки, и шёл дождь. " * 3
    for _ in range(3):
        assert cached(long_en) == estimate_tokens(long_en)
        assert cached(long_ru) == estimate_tokens(long_ru)
        assert cached("hi") == 1
    assert calls.count(long_en) == 1 and calls.count(long_ru) == 1
    assert calls.count("hi") == 3  # short texts are not worth a digest

    # Bounded: a third long text evicts the least recently used one.
    other = long_en.upper()
    cached(other)
    cached(long_en)
    assert calls.count(long_en) == 2
    assert cached("\ud800" * 60) == counter("\ud800" * 60)  # lone surrogates do not break it
