"""Input checks before any model time is spent: size, container, duration, silence."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from companion.config import SpeechSettings
from companion.speech import audio as audio_module
from companion.speech.audio import SAMPLE_RATE, check_size, decode
from companion.speech.errors import (
    AudioTooLargeError,
    AudioTooLongError,
    AudioUnreadableError,
    NothingRecognisedError,
)
from companion.speech.transcriber import Transcriber
from tests.fixtures.audio.make_fixtures import SAMPLE_RATE as FIXTURE_RATE
from tests.fixtures.audio.make_fixtures import write_voice_note

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "audio"


def _tone(seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(FIXTURE_RATE * seconds)) / FIXTURE_RATE
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def _no_model() -> object:
    raise AssertionError("the model must not be loaded for input that fails the checks")


@pytest.mark.parametrize(
    ("name", "expected_s"),
    [
        ("ru_voice.ogg", 9.1),
        ("en_voice.ogg", 7.9),
        ("en_audio.m4a", 5.4),
        ("ru_video_note.mp4", 4.6),
    ],
)
def test_decodes_voice_video_and_audio_files(name: str, expected_s: float) -> None:
    path = FIXTURES / name
    for source in (path, str(path), path.read_bytes()):
        decoded = decode(source, max_duration_s=60)
        assert decoded.samples.dtype == np.float32
        assert decoded.duration_s == pytest.approx(expected_s, abs=0.3)
        assert len(decoded.samples) == pytest.approx(
            expected_s * SAMPLE_RATE, abs=0.3 * SAMPLE_RATE
        )
        assert 0.05 < float(np.max(np.abs(decoded.samples))) <= 1.0


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    # A 10 GB sparse file: reading or decoding it would take minutes and gigabytes.
    huge = tmp_path / "huge.ogg"
    with huge.open("wb") as handle:
        handle.truncate(10 * 1024**3)
    transcriber = Transcriber(SpeechSettings(), model_factory=_no_model)
    with pytest.raises(AudioTooLargeError) as caught:
        transcriber.transcribe(huge)
    assert caught.value.message_args == {"limit_mb": 20}
    assert caught.value.size_bytes == 10 * 1024**3


def test_oversized_bytes_are_refused() -> None:
    with pytest.raises(AudioTooLargeError):
        check_size(b"\0" * 2049, limit_bytes=2048)
    assert check_size(b"\0" * 2048, limit_bytes=2048) == 2048


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"this is a text file, not audio\n" * 20,
        (FIXTURES / "broken.ogg").read_bytes(),
        # A real voice note cut after its headers: the container opens, no audio comes out.
        (FIXTURES / "en_voice.ogg").read_bytes()[:200],
    ],
    ids=["empty", "text", "broken-ogg", "headers-only"],
)
def test_unreadable_input(content: bytes) -> None:
    transcriber = Transcriber(SpeechSettings(), model_factory=_no_model)
    with pytest.raises(AudioUnreadableError):
        transcriber.transcribe(content)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(AudioUnreadableError):
        Transcriber(SpeechSettings(), model_factory=_no_model).transcribe(tmp_path / "none.ogg")


def test_video_without_sound_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "mute.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, 5)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(AudioUnreadableError, match="no audio track"):
        decode(path, max_duration_s=60)


def test_over_long_note_is_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "long.ogg"
    write_voice_note(path, _tone(6.0))
    settings = SpeechSettings(max_duration_s=3)
    with pytest.raises(AudioTooLongError) as caught:
        Transcriber(settings, model_factory=_no_model).transcribe(path)
    assert caught.value.duration_s == pytest.approx(6.0, abs=0.2)
    assert caught.value.message_args["limit_minutes"] == 1
    # Within the limit (plus rounding tolerance) the same note decodes.
    assert decode(path, max_duration_s=6).duration_s == pytest.approx(6.0, abs=0.2)


def test_over_long_note_without_a_duration_header_stops_while_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.ogg"
    write_voice_note(path, _tone(8.0))
    monkeypatch.setattr(audio_module, "_declared_duration", lambda container, stream: 0.0)
    with pytest.raises(AudioTooLongError) as caught:
        decode(path, max_duration_s=3)
    assert caught.value.duration_s is None  # found by counting samples, not from the header


def test_digital_silence_is_nothing_recognised() -> None:
    with pytest.raises(NothingRecognisedError):
        Transcriber(SpeechSettings(), model_factory=_no_model).transcribe(FIXTURES / "silence.ogg")


def test_declared_size_and_duration_are_checked_before_download() -> None:
    transcriber = Transcriber(
        SpeechSettings(max_file_bytes=1000, max_duration_s=60), model_factory=_no_model
    )
    transcriber.check_declared(1000, 61)  # at the limits (Telegram rounds durations): fine
    transcriber.check_declared(None, None)  # nothing declared: checked after download
    with pytest.raises(AudioTooLargeError):
        transcriber.check_declared(1001, None)
    with pytest.raises(AudioTooLongError):
        transcriber.check_declared(None, 62)
