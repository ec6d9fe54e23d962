"""Speech audio -> a Telegram voice note: OGG container, Opus codec, 48 kHz mono.

Telegram shows a file sent with sendVoice as a playable voice note (waveform, speed control)
only when it is OGG/Opus; anything else arrives as a plain file. PyAV (already used to decode
incoming notes, companion/speech/audio.py) does the resampling and encoding with FFmpeg's
libopus, so no second audio stack is needed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

from companion.speech.synthesis_base import Pcm, SynthesisError

VOICE_SAMPLE_RATE = 48_000  # Opus works at 48 kHz internally; Telegram's own notes use it
# Speech at 32 kb/s is transparent for a phone speaker; a minute is about 240 KB.
DEFAULT_BITRATE = 32_000
# libopus effort 0-10 (FFmpeg's default 10). 5 encodes speech 2.5x faster at the same bitrate
# (benchmarks/tts_rtf.py): encoding, not synthesis, is most of a voice reply's CPU time.
DEFAULT_COMPLEXITY = 5
_PAUSE_S = 0.25  # between synthesised pieces, so sentences do not run into each other


def join(pieces: list[Pcm]) -> Pcm:
    """One stream of the pieces in order, a short pause between them (same rate expected)."""
    if not pieces:
        raise SynthesisError("nothing was synthesised")
    rate = pieces[0].sample_rate
    if any(piece.sample_rate != rate for piece in pieces):
        raise SynthesisError("pieces of one reply came at different sample rates")
    pause = np.zeros(int(rate * _PAUSE_S), dtype=np.int16)
    parts: list[npt.NDArray[np.int16]] = []
    for index, piece in enumerate(pieces):
        if index:
            parts.append(pause)
        parts.append(piece.samples.astype(np.int16, copy=False))
    return Pcm(np.concatenate(parts), rate)


def encode_ogg_opus(
    pcm: Pcm, *, bitrate: int = DEFAULT_BITRATE, complexity: int = DEFAULT_COMPLEXITY
) -> bytes:
    """Encode to OGG/Opus, 48 kHz mono (resampled by FFmpeg when the engine's rate differs)."""
    if len(pcm.samples) == 0:
        raise SynthesisError("no audio to encode")
    buffer = io.BytesIO()
    try:
        with av.open(buffer, mode="w", format="ogg") as container:
            stream = container.add_stream("libopus", rate=VOICE_SAMPLE_RATE, layout="mono")
            stream.bit_rate = bitrate
            stream.options = {"compression_level": str(complexity)}
            frame = av.AudioFrame.from_ndarray(
                pcm.samples.reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = pcm.sample_rate
            resampler = av.AudioResampler(format="s16", layout="mono", rate=VOICE_SAMPLE_RATE)
            for resampled in (*resampler.resample(frame), *resampler.resample(None)):
                for packet in stream.encode(resampled):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        raise SynthesisError(f"OGG/Opus encoding failed: {exc}") from exc
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class VoiceNoteInfo:
    codec: str
    sample_rate: int
    channels: int
    duration_s: float


def probe(data: bytes) -> VoiceNoteInfo:
    """Codec, rate, channels and decoded duration of an audio file (for checks and tests)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise SynthesisError("the file has no audio track")
            stream = container.streams.audio[0]
            samples = 0
            rate = stream.codec_context.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
            return VoiceNoteInfo(
                codec=stream.codec_context.name,
                sample_rate=int(stream.codec_context.sample_rate or rate),
                channels=stream.codec_context.channels,
                duration_s=samples / rate if rate else 0.0,
            )
    except av.error.FFmpegError as exc:
        raise SynthesisError(f"not readable audio: {exc}") from exc


def decode_pcm(data: bytes) -> Pcm:
    """Any audio file -> 48 kHz mono s16 (to re-encode what a server sent in another format)."""
    chunks: list[npt.NDArray[np.int16]] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise SynthesisError("the server's audio has no audio track")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=VOICE_SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1))
            for out in resampler.resample(None):
                chunks.append(np.asarray(out.to_ndarray(), dtype=np.int16).reshape(-1))
    except av.error.FFmpegError as exc:
        raise SynthesisError(f"the server's audio cannot be decoded: {exc}") from exc
    if not chunks:
        raise SynthesisError("the server's audio is empty")
    return Pcm(np.concatenate(chunks), VOICE_SAMPLE_RATE)
