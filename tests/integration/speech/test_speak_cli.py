"""`companion speak "TEXT" --persona ID -o FILE.ogg`: the voice note the bot would send."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from companion.cli import build_cli
from companion.speech.synthesis_audio import probe
from tests.emulators.openai_server import OpenAIEmulator

BOB = {
    "id": "bob",
    "name": "Bob",
    "module": "support",
    "languages": ["en"],
    "preview": "Bob.",
    "description": "Bob.",
    "personality": "Calm.",
    "speaking_style": "Short.",
    "scenario": "Chat.",
    "greetings": {"en": ["Hi!"]},
    "voice": {"en": "male-bright"},
}


def run(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), ["speak", *args])


def test_writes_a_voice_note_with_the_embedded_engine(tmp_path: Path) -> None:
    out = tmp_path / "notes" / "vera.ogg"
    result = run("**Привет!** 🌿 Я так рада тебя слышать.", "--persona", "vera", "-o", str(out))
    assert result.exit_code == 0, result.output
    info = probe(out.read_bytes())
    assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
    assert 1.0 < info.duration_s < 8.0
    assert "ru speech" in result.stdout and "female-warm" in result.stdout


async def test_the_tts_server_gets_the_cards_voice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "bob.yaml").write_text(json.dumps(BOB), encoding="utf-8")
    monkeypatch.setenv("COMPANION_PERSONAS__DIRECTORY", str(cards))
    out = tmp_path / "bob.ogg"
    async with OpenAIEmulator() as emu:
        monkeypatch.setenv("COMPANION_TTS__BASE_URL", emu.base_url)
        # The command runs its own event loop: in a thread, beside the emulator's.
        result = await asyncio.to_thread(
            run, "Hello there, friend.", "-p", "bob", "-o", str(out), "--engine", "openai"
        )
    assert result.exit_code == 0, result.output
    assert [r["voice"] for r in emu.speech_requests] == ["fable"]  # male-bright
    assert probe(out.read_bytes()).codec == "opus"


def test_unknown_persona_and_empty_text_are_one_line_errors(tmp_path: Path) -> None:
    target = tmp_path / "x.ogg"
    result = run("Hi", "--persona", "nobody", "-o", str(target))
    assert result.exit_code == 1
    assert "no persona 'nobody'" in result.stderr and "vera" in result.stderr
    result = run("🙂 https://example.com", "--persona", "vera", "-o", str(target))
    assert result.exit_code == 1
    assert "nothing to say aloud" in result.stderr
    assert "Traceback" not in result.output
    assert not target.exists()
