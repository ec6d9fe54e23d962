"""`companion transcribe FILE` with the packaged model."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from companion.cli import transcribe as transcribe_cli
from tests.integration.speech.conftest import FIXTURES

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(speech_cache: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("COMPANION_SPEECH__CACHE_DIR", str(speech_cache))
    # Mounted the way the root CLI mounts it: the single command under its own name.
    root = typer.Typer()
    root.command("version")(lambda: None)
    root.add_typer(transcribe_cli.app)
    return root


def test_prints_the_transcript(cli: typer.Typer) -> None:
    result = CliRunner().invoke(
        cli, ["transcribe", str(FIXTURES / "en_voice.ogg"), "--language", "en", "-t"]
    )
    assert result.exit_code == 0, result.output
    assert "park" in result.stdout.lower()
    assert "[00:0" in result.stdout  # --timestamps prints one timed segment per line
    assert "language en" in result.stderr


def test_broken_file_is_one_line_error(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["transcribe", str(FIXTURES / "broken.ogg")])
    assert result.exit_code == 1
    assert "broken.ogg" in result.stderr and "Traceback" not in result.output


def test_rejects_an_unknown_language(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["transcribe", str(FIXTURES / "en_voice.ogg"), "-l", "de"])
    assert result.exit_code == 2
