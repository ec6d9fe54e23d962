"""The packaged Whisper base model, joined into a session cache and loaded once per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from companion.config import SpeechSettings
from companion.speech.transcriber import Transcriber, build_whisper_model

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("whisper-cache")


@pytest.fixture(scope="session")
def speech_settings(speech_cache: Path) -> SpeechSettings:
    return SpeechSettings(model="packaged", cache_dir=speech_cache, workers=2, beam_size=1)


@pytest.fixture(scope="session")
def whisper_model(speech_settings: SpeechSettings) -> Any:
    return build_whisper_model(speech_settings)


@pytest.fixture(scope="session")
def transcriber(speech_settings: SpeechSettings, whisper_model: Any) -> Transcriber:
    return Transcriber(speech_settings, model_factory=lambda: whisper_model)


@pytest.fixture(scope="session")
def phrases() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(
        (FIXTURES / "phrases.json").read_text(encoding="utf-8")
    )
    return data


def keyword_hits(text: str, keywords: list[str]) -> list[str]:
    lowered = text.lower().replace("ё", "е")
    return [word for word in keywords if word.lower() in lowered]
