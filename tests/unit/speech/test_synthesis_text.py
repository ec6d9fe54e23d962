"""Reply text -> what a speech engine reads: markup, links and emoji gone, length capped."""

from __future__ import annotations

import pytest

from companion.speech.synthesis_base import guess_language
from companion.speech.synthesis_text import (
    cap_length,
    clean_for_speech,
    prepare,
    split_sentences,
)


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("**Hello** _there_!", "Hello there!"),
        ("<b>Привет</b>, &lt;3 ты как?", "Привет, <3 ты как?"),
        ("See [my notes](https://example.com/x) 🙂", "See my notes"),
        ("Look: https://example.com/a?b=1 now", "Look: now"),
        ("# Title\n- one\n- two\n1. three", "Title\none\ntwo\nthree"),
        ("Use `print()` here ```code\nblock```", "Use print() here"),
        ("Обнимаю 🤍🌿☕ и жду", "Обнимаю и жду"),
        ("👍🏽👨‍👩‍👧", ""),
        ("*smiles* Hi ~~there~~ ||secret||", "smiles Hi there secret"),
    ],
)
def test_clean_for_speech(raw: str, spoken: str) -> None:
    assert clean_for_speech(raw) == spoken


def test_cap_length_ends_at_a_sentence_when_one_fits() -> None:
    text = "First sentence here. Second one is longer than the rest of them. Third."
    assert cap_length(text, 40) == "First sentence here."
    assert cap_length(text, 500) == text


def test_cap_length_cuts_at_a_word_without_sentence_ends() -> None:
    text = "word " * 50
    capped = cap_length(text.strip(), 23)
    assert capped == "word word word word…"
    assert len(capped) <= 23


def test_split_sentences_keeps_sentences_whole_and_under_the_limit() -> None:
    text = "One two three. Four five six! Seven eight nine? Ten."
    chunks = split_sentences(text, 30)
    assert chunks == ["One two three. Four five six!", "Seven eight nine? Ten."]
    long_sentence = "x" * 10 + " " + "y" * 25 + " " + "z" * 25
    pieces = split_sentences(long_sentence, 30)
    assert all(len(p) <= 30 for p in pieces) and "".join(pieces).replace(" ", "") == (
        long_sentence.replace(" ", "")
    )


def test_prepare_gives_nothing_for_emoji_only_and_pieces_otherwise() -> None:
    assert prepare("🙂🙂 https://x.y", max_chars=100, max_chunk_chars=50) == []
    pieces = prepare("**Hi!** How are you? 🌿 " * 5, max_chars=60, max_chunk_chars=30)
    assert pieces and all(len(p) <= 30 for p in pieces)
    assert sum(len(p) for p in pieces) <= 60
    assert not any("*" in p or "🌿" in p for p in pieces)


@pytest.mark.parametrize(
    ("text", "language"),
    [("Привет, как дела?", "ru"), ("Hello, how are you?", "en"), ("Ok, давай завтра", "ru")],
)
def test_guess_language(text: str, language: str) -> None:
    assert guess_language(text, fallback="en") == language


def test_guess_language_falls_back_without_letters() -> None:
    assert guess_language("123 !!!", fallback="ru") == "ru"
