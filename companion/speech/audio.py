"""Checks and decoding of incoming audio, done before any model time is spent on it.

PyAV (the FFmpeg binding faster-whisper itself uses) reads Telegram voice notes (OGG/Opus),
video notes (MP4: only the audio track is demuxed, the video is never decoded), and audio files
(MP3, M4A/AAC, OGG, WAV, FLAC...). The result is 16 kHz mono float32, what Whisper expects.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from companion.speech.errors import (
    AudioTooLargeError,
    AudioTooLongError,
    AudioUnreadableError,
    NothingRecognisedError,
)

SAMPLE_RATE = 16_000
# Containers round durations; a note of exactly the limit must not be refused.
_DURATION_TOLERANCE_S = 1.0
# Peak below this (about -80 dBFS) is digital silence: no need to run the model at all.
_SILENCE_PEAK = 1e-4
# A few damaged packets are skipped (as FFmpeg players do); many mean a broken file.
_MAX_BAD_PACKETS = 16

AudioSource = bytes | bytearray | memoryview | Path | str
"""Audio bytes as downloaded, or a path to a file (``str`` is always a path)."""


@dataclass(frozen=True, slots=True)
class DecodedAudio:
    samples: npt.NDArray[np.float32]
    duration_s: float


def source_size(source: AudioSource) -> int:
    """Size in bytes without reading a file's content."""
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    try:
        return Path(source).stat().st_size
    except OSError as exc:
        raise AudioUnreadableError(f"cannot read {source}: {exc.strerror}") from exc


def check_size(source: AudioSource, limit_bytes: int) -> int:
    size = source_size(source)
    if size > limit_bytes:
        raise AudioTooLargeError(size, limit_bytes)
    if size == 0:
        raise AudioUnreadableError("the audio is empty")
    return size


def _open(source: AudioSource) -> av.container.InputContainer:
    if isinstance(source, bytes | bytearray | memoryview):
        return av.open(io.BytesIO(bytes(source)), mode="r", metadata_errors="ignore")
    return av.open(str(source), mode="r", metadata_errors="ignore")


def _declared_duration(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """Duration from the container or stream header; 0.0 when neither states one."""
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return 0.0


def decode(source: AudioSource, max_duration_s: float) -> DecodedAudio:
    """Decode to 16 kHz mono float32, refusing over-long audio before and while decoding.

    The header's duration is checked first (cheap), and the decoded length is checked as it
    grows, so a file whose header lies or says nothing cannot make us decode hours of audio.
    """
    limit_s = max_duration_s + _DURATION_TOLERANCE_S
    max_samples = int(limit_s * SAMPLE_RATE)
    try:
        container = _open(source)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise AudioUnreadableError(f"not a readable audio container: {exc}") from exc
    chunks: list[npt.NDArray[np.int16]] = []  # s16 frames from the resampler
    decoded = 0
    bad_packets = 0
    with container:
        if not container.streams.audio:
            raise AudioUnreadableError("the file has no audio track")
        stream = container.streams.audio[0]
        declared = _declared_duration(container, stream)
        if declared > limit_s:
            raise AudioTooLongError(declared, max_duration_s)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    bad_packets += 1
                    if bad_packets > _MAX_BAD_PACKETS:
                        raise
                    continue
                for frame in frames:
                    for out in resampler.resample(frame):
                        chunk = np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1)
                        chunks.append(chunk)
                        decoded += len(chunk)
                if decoded > max_samples:
                    raise AudioTooLongError(None, max_duration_s)
            for out in resampler.resample(None):
                chunks.append(np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1))
        except av.error.FFmpegError as exc:
            raise AudioUnreadableError(f"the audio cannot be decoded: {exc}") from exc
    if not chunks:
        raise AudioUnreadableError("no audio could be decoded")
    samples = (np.concatenate(chunks).astype(np.float32) / 32768.0).astype(np.float32)
    duration_s = len(samples) / SAMPLE_RATE
    if duration_s > limit_s:
        raise AudioTooLongError(duration_s, max_duration_s)
    if len(samples) == 0 or float(np.max(np.abs(samples))) < _SILENCE_PEAK:
        raise NothingRecognisedError("the audio is silent")
    return DecodedAudio(samples=samples, duration_s=duration_s)
