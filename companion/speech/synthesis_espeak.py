"""The embedded offline engine: eSpeak NG, from the ``espeakng-loader`` wheel (library + data).

Why eSpeak NG (docs/voice.md has the comparison): it is the only engine installable from PyPI
here that speaks both Russian and English with no model download and a licence that allows
selling the product (GPL-3.0-or-later: commercial use is allowed; we load the unmodified shared
library at run time and do not distribute a modified one). It sounds synthetic; production
points ``tts.engine=openai`` at a neural TTS server.

The library keeps global state (one current voice, one callback), so calls are serialised by a
lock; a synthesis of a reply takes milliseconds (real-time factor ~0.001), so one lock is not a
bottleneck. ctypes releases the GIL while the C code runs.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from companion.speech.synthesis_base import Pcm, SynthesisError

# espeak_AUDIO_OUTPUT.AUDIO_OUTPUT_SYNCHRONOUS: samples are handed to the callback, no device.
_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1  # espeak_PARAMETER.espeakRATE (words per minute)
_PITCH = 3  # espeakPITCH (0-100, 50 normal)
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

# Engine-neutral voice ids (companion.domain.personas.VOICE_IDS) -> eSpeak variant and pitch.
# The "+f"/"+m" variants are eSpeak's built-in formant shapes for female and male voices.
VARIANTS: dict[str, tuple[str, int]] = {
    "female-warm": ("f3", 52),
    "female-bright": ("f4", 62),
    "female-calm": ("f2", 45),
    "male-warm": ("m3", 45),
    "male-deep": ("m1", 35),
    "male-bright": ("m4", 55),
}
LANGUAGES = {"ru": "ru", "en": "en-us"}
WORDS_PER_MINUTE = 165  # eSpeak's 175 default sounds hurried for a conversational reply


class _Library:
    """The process's one eSpeak NG: initialised once, used under one lock by every engine."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lib: Any = None
        self.rate = 0
        self.chunks: list[npt.NDArray[np.int16]] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced: C holds the pointer

    def load_locked(self) -> Any:
        if self.lib is not None:
            return self.lib
        try:
            import espeakng_loader  # type: ignore[import-untyped]
        except ImportError as exc:
            raise SynthesisError("espeakng-loader is not installed (the voice extra)") from exc
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise SynthesisError(f"eSpeak NG did not start (error {rate})")
        lib.espeak_SetSynthCallback(self._callback)
        self.lib, self.rate = lib, rate
        return lib

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if count > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0  # 0 = go on


_LIBRARY = _Library()


class EspeakEngine:
    """Blocking synthesis to 16-bit PCM (22 050 Hz); call from worker threads."""

    name = "espeak-ng"

    def __init__(self, *, words_per_minute: int = WORDS_PER_MINUTE) -> None:
        self._wpm = words_per_minute

    def load(self) -> None:
        with _LIBRARY.lock:
            _LIBRARY.load_locked()

    def synthesize(self, text: str, *, voice: str, language: str) -> Pcm:
        variant, pitch = VARIANTS.get(voice, VARIANTS["female-warm"])
        name = f"{LANGUAGES.get(language, 'en-us')}+{variant}"
        data = text.encode("utf-8")
        with _LIBRARY.lock:
            lib = _LIBRARY.load_locked()
            if lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise SynthesisError(f"eSpeak NG has no voice {name!r}")
            lib.espeak_SetParameter(_RATE, self._wpm, 0)
            lib.espeak_SetParameter(_PITCH, pitch, 0)
            _LIBRARY.chunks = []
            status = lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            lib.espeak_Synchronize()
            chunks, _LIBRARY.chunks = _LIBRARY.chunks, []
            rate = _LIBRARY.rate
        if status != 0:
            raise SynthesisError(f"eSpeak NG synthesis failed (error {status})")
        if not chunks:
            raise SynthesisError("eSpeak NG produced no audio")
        return Pcm(np.concatenate(chunks), rate)
