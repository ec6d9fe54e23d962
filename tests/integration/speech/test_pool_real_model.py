"""Several users' voice notes through the pool and the real model at the same time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from companion.speech.audio import AudioSource
from companion.speech.errors import AudioUnreadableError
from companion.speech.pool import TranscriptionPool
from companion.speech.transcriber import Transcriber
from tests.integration.speech.conftest import FIXTURES, keyword_hits

pytestmark = pytest.mark.slow


async def test_users_notes_are_transcribed_concurrently(
    transcriber: Transcriber, phrases: dict[str, dict[str, Any]]
) -> None:
    pool = TranscriptionPool(transcriber, workers=2, queue_limit=4)
    await pool.start()
    notes: dict[int, tuple[str, AudioSource]] = {
        101: ("en_voice", (FIXTURES / "en_voice.ogg").read_bytes()),
        102: ("ru_voice", (FIXTURES / "ru_voice.ogg").read_bytes()),
        103: ("en_audio", FIXTURES / "en_audio.m4a"),
        104: ("broken", (FIXTURES / "broken.ogg").read_bytes()),
    }
    results = await asyncio.gather(
        *(pool.transcribe(user, audio) for user, (_, audio) in notes.items()),
        return_exceptions=True,
    )
    await pool.close()
    by_user = dict(zip(notes, results, strict=True))
    for user in (101, 102, 103):
        name = notes[user][0]
        result = by_user[user]
        assert not isinstance(result, BaseException), result
        assert result.language == phrases[name]["language"]
        assert len(keyword_hits(result.text, phrases[name]["keywords"])) >= 2, result.text
    # One user's broken file is that user's polite error; the others are unaffected.
    assert isinstance(by_user[104], AudioUnreadableError)
