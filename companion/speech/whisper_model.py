"""faster-whisper's `WhisperModel`, changed to encode the first 30 s window once, not twice.

When the language is not forced, faster-whisper (1.1, 1.2) encodes the first window to detect
the language and then encodes the same window again to transcribe it. The encoder is about a
third of the work for a typical voice note (one or two windows), so the repeat costs ~0.6 s of
two cores per note. This model keeps each thread's last encoding and returns it when asked to
encode identical features.

Detection receives the features with the one frame of padding that the feature extractor adds
at the end, while transcription leaves that frame out of the first window; for a note shorter
than 30 s the two windows therefore differ in their last column. Detection here leaves the
frame out too, which makes the windows identical (the frame is silence padding, the language
it detects is the same). A faster-whisper that slices differently only loses the reuse: the
cache compares the features exactly, so it can never return a wrong encoding.

Imported only when speech is used: it loads CTranslate2.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from faster_whisper import WhisperModel


class EncoderReusingWhisperModel(WhisperModel):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per thread: `num_workers` threads transcribe different notes on one model at once.
        self._last_encoding = threading.local()
        self.encoder_runs = 0  # how many windows were really encoded (tests, metrics)

    def encode(self, features: np.ndarray) -> Any:
        last = getattr(self._last_encoding, "value", None)
        if last is not None:
            cached_features, cached_output = last
            if cached_features.shape == features.shape and np.array_equal(
                cached_features, features
            ):
                return cached_output
        output = super().encode(features)
        self.encoder_runs += 1
        self._last_encoding.value = (np.array(features, copy=True), output)
        return output

    def detect_language(
        self,
        audio: np.ndarray | None = None,
        features: np.ndarray | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if audio is None and features is not None and features.shape[-1] > 1:
            features = features[..., : features.shape[-1] - 1]
        return super().detect_language(audio, features, *args, **kwargs)
