"""The transcribe command's progress bar: only for long recordings, driven by segment ends."""

from __future__ import annotations

import io

from rich.console import Console

from companion.cli.transcribe import PROGRESS_MIN_DURATION_S, _ProgressBar


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def test_short_notes_show_no_bar() -> None:
    console, out = _console()
    bar = _ProgressBar(console)
    bar(3.0, PROGRESS_MIN_DURATION_S - 1)
    bar.stop()
    assert out.getvalue() == ""


def test_long_recordings_show_seconds_done() -> None:
    console, out = _console()
    bar = _ProgressBar(console)
    bar(30.0, 120.0)
    bar(90.0, 120.0)
    assert bar._progress is not None
    task = bar._progress.tasks[0]
    assert (task.completed, task.total) == (90.0, 120.0)
    bar.stop()
    assert "transcribing" in out.getvalue()
