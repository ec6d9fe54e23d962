"""Cleaning the model's check-in: what is kept, trimmed, or refused (then retried later)."""

from __future__ import annotations

from companion.outreach.writer import MAX_CHARS, clean


def test_the_persona_name_quotes_and_photo_markers_go() -> None:
    raw = 'Anna: "Hey, how did the exam go? [photo: cafe]"'
    assert clean(raw, "Anna") == "Hey, how did the exam go?"


def test_russian_quotes_are_taken_off_too() -> None:
    assert clean("«Привет! Как прошёл экзамен?»", "Анна") == "Привет! Как прошёл экзамен?"


def test_empty_and_model_talk_are_refused() -> None:
    assert clean("   [photo]  ", "Anna") is None
    assert clean("As an AI language model, I hope your exam went well.", "Anna") is None
    assert clean("Как языковая модель, я не могу", "Анна") is None


def test_a_long_answer_is_cut_at_a_sentence() -> None:
    raw = "How was it? " + "I kept thinking about you all day. " * 40
    text = clean(raw, "Anna")
    assert text is not None and len(text) <= MAX_CHARS
    assert text.endswith(".")
