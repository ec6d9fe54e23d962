"""Splitting long replies for Telegram and escaping model text."""

from __future__ import annotations

import pytest

from companion.bot.texts import escape, shorten, split_message, utf16_len


def test_short_text_is_one_part() -> None:
    assert split_message("  Hello there.  ") == ["Hello there."]
    assert split_message("   ") == []


def test_splits_at_sentence_boundaries() -> None:
    text = " ".join(f"Sentence {i} is here." for i in range(500))
    parts = split_message(text, 1000)
    assert len(parts) > 1
    assert all(len(p) <= 1000 for p in parts)
    assert all(p.endswith("here.") for p in parts)
    assert " ".join(parts) == text


def test_prefers_paragraphs() -> None:
    first = "A" * 30 + ". " + "word " * 100
    text = first.strip() + "\n\n" + "Second paragraph. " * 20
    parts = split_message(text, 700)
    assert parts[0] == first.strip()


def test_no_boundary_cuts_hard_and_loses_nothing() -> None:
    text = "x" * 2500
    parts = split_message(text, 1000)
    assert [len(p) for p in parts] == [1000, 1000, 500]


@pytest.mark.parametrize("emoji", ["😀", "👩‍👩‍👧"])
def test_counts_utf16_units(emoji: str) -> None:
    text = (emoji + " ") * 3000
    parts = split_message(text, 4096)
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_escape_and_shorten() -> None:
    assert escape("a <b> & c > d") == "a &lt;b&gt; &amp; c &gt; d"
    assert shorten("hello world", 5) == "hell…"
    assert shorten("hi", 5) == "hi"
