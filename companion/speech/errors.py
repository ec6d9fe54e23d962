"""Why a voice note was not transcribed; front-ends render ``message_id`` from voice.ftl."""

from __future__ import annotations


class SpeechError(Exception):
    """Base of the errors a user can be told about; nothing from the note is stored."""

    #: Fluent message id in ``companion/locales/<lang>/voice.ftl``.
    message_id = "voice-failed"

    def __init__(self, detail: str, **message_args: int | float | str) -> None:
        super().__init__(detail)
        #: Arguments for the localized message (numbers already in user-facing units).
        self.message_args: dict[str, int | float | str] = message_args


class AudioTooLargeError(SpeechError):
    message_id = "voice-too-large"

    def __init__(self, size_bytes: int, limit_bytes: int) -> None:
        super().__init__(
            f"audio is {size_bytes} bytes, the limit is {limit_bytes}",
            limit_mb=max(1, limit_bytes // (1024 * 1024)),
        )
        self.size_bytes = size_bytes
        self.limit_bytes = limit_bytes


class AudioTooLongError(SpeechError):
    message_id = "voice-too-long"

    def __init__(self, duration_s: float | None, limit_s: float) -> None:
        shown = "more than" if duration_s is None else f"{duration_s:.1f} s,"
        super().__init__(
            f"audio is {shown} the limit is {limit_s:.0f} s",
            limit_minutes=max(1, round(limit_s / 60)),
            limit_seconds=int(limit_s),
        )
        self.duration_s = duration_s
        self.limit_s = limit_s


class AudioUnreadableError(SpeechError):
    message_id = "voice-unreadable"


class NothingRecognisedError(SpeechError):
    message_id = "voice-nothing-recognised"


class TranscriberBusyError(SpeechError):
    message_id = "voice-busy"


class TranscriptionFailedError(SpeechError):
    """An unexpected failure (model could not load, decoder crashed); logged with its cause."""

    message_id = "voice-failed"


class TranscriberClosedError(SpeechError):
    """The pool is shutting down; the user sees the same text as when it is busy."""

    message_id = "voice-busy"
