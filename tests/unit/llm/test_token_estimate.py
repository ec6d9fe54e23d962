from __future__ import annotations

from companion.llm.token_estimate import estimate_tokens


def test_empty_text_is_zero_tokens() -> None:
    assert estimate_tokens("") == 0


def test_short_english_words_are_one_token_each() -> None:
    assert estimate_tokens("how are you") == 3


def test_punctuation_counts_and_long_words_split() -> None:
    # "internationalization" = 20 ASCII chars -> 5 tokens; "!" -> 1.
    assert estimate_tokens("internationalization!") == 6


def test_cyrillic_costs_more_per_character_than_ascii() -> None:
    # Same length, 12 letters: ASCII 3 tokens, Cyrillic ceil(12 / 2.5) = 5 tokens.
    assert estimate_tokens("abcdefghijkl") == 3
    assert estimate_tokens("приветствуем") == 5


def test_newlines_add_tokens() -> None:
    assert estimate_tokens("a\nb") == estimate_tokens("a b") + 1


def test_estimate_grows_with_text() -> None:
    text = "Привет! Как у тебя дела сегодня? I hope you're fine."
    assert estimate_tokens(text * 3) >= 3 * estimate_tokens(text)
