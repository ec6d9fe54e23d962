"""Language choice limited to the user's languages, and the texts users see for each error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fluent.runtime import FluentBundle, FluentResource

from companion.config import SpeechSettings
from companion.speech import errors
from companion.speech.transcriber import Transcriber, choose_language, cpu_threads_per_worker

LOCALES = Path(__file__).resolve().parents[3] / "companion" / "locales"


def test_allowed_detection_is_kept() -> None:
    assert choose_language("ru", [("ru", 0.4), ("en", 0.3)], ("ru", "en")) == "ru"


def test_disallowed_detection_falls_back_to_the_likeliest_allowed_language() -> None:
    probs = [("de", 0.13), ("nn", 0.12), ("en", 0.05), ("ru", 0.08)]
    assert choose_language("de", probs, ("ru", "en")) == "ru"
    assert choose_language("de", probs, ("en",)) == "en"


def test_no_restriction_keeps_anything() -> None:
    assert choose_language("de", [("de", 0.9)], ()) == "de"


def test_missing_probabilities_still_pick_an_allowed_language() -> None:
    assert choose_language("uk", None, ("ru", "en")) in ("ru", "en")


def test_language_hints() -> None:
    transcriber = Transcriber(SpeechSettings(languages=["ru", "en-US", "RU"]))
    assert transcriber.allowed_languages(None) == ("ru", "en")
    assert transcriber.allowed_languages("EN") == ("en",)
    assert transcriber.allowed_languages(["en", "de"]) == ("en", "de")
    assert not transcriber.loaded  # asking about languages never loads the model


def test_each_worker_may_use_every_core_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cpu_threads_per_worker(SpeechSettings(cpu_threads=3, workers=2)) == 3
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert cpu_threads_per_worker(SpeechSettings(cpu_threads=0, workers=64)) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cpu_threads_per_worker(SpeechSettings(cpu_threads=0, workers=2)) == 1


def _format(language: str, key: str, args: dict[str, object]) -> str:
    bundle, _ = _bundle(language)
    message = bundle.get_message(key)
    assert message.value is not None
    text, problems = bundle.format_pattern(message.value, args)
    assert problems == []
    assert isinstance(text, str)
    return text


def _bundle(language: str) -> tuple[FluentBundle, set[str]]:
    text = (LOCALES / language / "voice.ftl").read_text(encoding="utf-8")
    resource = FluentResource(text)
    bundle = FluentBundle([language], use_isolating=False)
    bundle.add_resource(resource)
    keys = {entry.id.name for entry in resource.body if hasattr(entry, "id")}
    return bundle, keys


SAMPLE_ERRORS: list[errors.SpeechError] = [
    errors.AudioTooLargeError(25 * 1024 * 1024, 20 * 1024 * 1024),
    errors.AudioTooLongError(400.0, 300),
    errors.AudioTooLongError(None, 60),
    errors.AudioUnreadableError("x"),
    errors.NothingRecognisedError("x"),
    errors.TranscriberBusyError("x"),
    errors.TranscriberClosedError("x"),
    errors.SpeechError("x"),
]


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("error", SAMPLE_ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_has_a_polite_text(language: str, error: errors.SpeechError) -> None:
    text = _format(language, error.message_id, dict(error.message_args))
    assert len(text) > 20 and "{" not in text
    for shown in ("limit_mb", "limit_minutes"):
        if shown in error.message_args:
            assert str(error.message_args[shown]) in text


def test_ru_and_en_have_the_same_keys() -> None:
    assert _bundle("ru")[1] == _bundle("en")[1]


@pytest.mark.parametrize(
    ("language", "minutes", "expected"),
    [("ru", 1, "1 минуты"), ("ru", 5, "5 минут"), ("en", 1, "1 minute)"), ("en", 5, "5 minutes")],
)
def test_duration_limit_is_worded_for_the_number(
    language: str, minutes: int, expected: str
) -> None:
    text = _format(language, "voice-too-long", {"limit_minutes": minutes})
    assert expected in text


@pytest.mark.parametrize("language", ["ru", "en"])
def test_echo_shows_the_transcript(language: str) -> None:
    text = _format(language, "voice-echo", {"text": "привет, как дела"})
    assert text.startswith("🎤") and text.endswith("привет, как дела")
