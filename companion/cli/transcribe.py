"""`companion transcribe FILE`: print what the voice pipeline hears in an audio or video file.

For the product owner and for debugging: same model, same checks and same language choice as
the bot, except that the duration limit is the ``--max-minutes`` option (the bot's limit
protects a shared service; a person at a terminal may want to transcribe a long recording).

Mount with ``root.add_typer(transcribe.app)`` (typer adds the single command under its own name)
or ``root.command("transcribe")(transcribe.transcribe)``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from companion.cli.errors import fail, settings_or_exit, stderr
from companion.speech.errors import SpeechError
from companion.speech.model import ModelAssemblyError
from companion.speech.transcriber import Transcriber

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

stdout = Console(highlight=False, soft_wrap=True)

# Below this, the answer comes back in a few seconds and a bar would only flicker.
PROGRESS_MIN_DURATION_S = 30.0


class Language(StrEnum):
    RU = "ru"
    EN = "en"


class _ProgressBar:
    """Created on the first progress report, once the duration is known."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, processed_s: float, total_s: float) -> None:
        if total_s < PROGRESS_MIN_DURATION_S:
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("transcribing"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("transcribe", total=total_s)
        assert self._task is not None
        self._progress.update(self._task, completed=processed_s)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def _timestamp(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


@app.command("transcribe")
def transcribe(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="Audio or video file"),
    ],
    language: Annotated[
        Language | None,
        typer.Option("--language", "-l", help="Force the language (default: detect among ru/en)"),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="'packaged', a faster-whisper size name or a model directory"),
    ] = None,
    beam_size: Annotated[int | None, typer.Option(min=1, max=10, help="Beam width")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or auto")] = None,
    compute_type: Annotated[
        str | None, typer.Option(help="int8, int8_float16, float16, float32...")
    ] = None,
    max_minutes: Annotated[float, typer.Option(min=0.1, help="Refuse longer recordings")] = 60.0,
    timestamps: Annotated[
        bool, typer.Option("--timestamps", "-t", help="Print one segment per line with times")
    ] = False,
) -> None:
    """Print the transcript of FILE (voice note, video note, audio file)."""
    settings = settings_or_exit()
    overrides: dict[str, object] = {
        # One note at a time here, so all cores go to it (cpu_threads=0 divides by workers).
        "workers": 1,
        "max_duration_s": int(max_minutes * 60),
        "max_file_bytes": max(settings.speech.max_file_bytes, file.stat().st_size),
    }
    for name, value in (
        ("model", model),
        ("beam_size", beam_size),
        ("device", device),
        ("compute_type", compute_type),
    ):
        if value is not None:
            overrides[name] = value
    transcriber = Transcriber(settings.speech.model_copy(update=overrides))
    bar = _ProgressBar(stderr)
    try:
        with stderr.status("loading the speech model…"):
            transcriber.load()
        result = transcriber.transcribe(file, language.value if language else None, on_progress=bar)
    except SpeechError as exc:
        fail(f"{file.name}: {exc}")
    except ModelAssemblyError as exc:
        fail(str(exc))
    except (RuntimeError, ValueError, OSError) as exc:  # ctranslate2: bad device/compute type
        fail(f"cannot load the speech model: {exc}")
    finally:
        bar.stop()
    if timestamps:
        for segment in result.segments:
            stdout.print(
                f"[{_timestamp(segment.start)} → {_timestamp(segment.end)}] {segment.text}",
                markup=False,
            )
    else:
        stdout.print(result.text, markup=False)
    stderr.print(
        f"language {result.language} (p={result.language_probability:.2f}), "
        f"{result.duration_s:.1f} s of audio in {result.processing_s:.1f} s "
        f"(RTF {result.real_time_factor:.2f})",
        highlight=False,
    )
