"""What `DialogService.reply` yields and raises; front-ends (Telegram, terminal) render these."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from companion.domain.personas import GalleryImage
from companion.domain.ports import AccessDecision


class NoticeKind(StrEnum):
    # Shown once before the first Support conversation (and on /help): not a psychologist.
    SUPPORT_DISCLAIMER = "support_disclaimer"
    # A caring reply with crisis hotlines instead of role-play (self-harm / suicide signals).
    CRISIS = "crisis"


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the reply as it is generated (already cleaned of control markers)."""

    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A fixed, localised text the front-end renders from its locale files (key = kind)."""

    kind: NoticeKind
    language: str

    @property
    def text_key(self) -> str:
        """The Fluent key of the text (`companion/locales/*/dialog.ftl`)."""
        return _NOTICE_KEYS[self.kind]


_NOTICE_KEYS = {
    NoticeKind.SUPPORT_DISCLAIMER: "support-disclaimer",
    NoticeKind.CRISIS: "crisis-reply",
}


@dataclass(frozen=True, slots=True)
class PhotoToSend:
    """The persona sends a gallery photo; `path` is the image file on disk."""

    image: GalleryImage
    path: str
    caption: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """The reply is complete and stored."""

    text: str
    message_id: str


DialogEvent = TextDelta | Notice | PhotoToSend | ReplyDone


class DialogError(Exception):
    """Base of the errors the dialogue service raises before or during a reply."""


class InvalidMessageError(DialogError):
    """Empty or too long user text; nothing was stored."""

    def __init__(self, reason: str, limit: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # "empty" | "too_long"
        self.limit = limit


class AccessDeniedError(DialogError):
    """The user may not use this persona now (PRO or 18+ needed); nothing was stored."""

    def __init__(self, decision: AccessDecision) -> None:
        super().__init__(decision.value)
        self.decision = decision


class UnknownPersonaError(DialogError):
    def __init__(self, persona_id: str) -> None:
        super().__init__(f"unknown persona {persona_id!r}")
        self.persona_id = persona_id


class ReplyFailedError(DialogError):
    """The model failed; the user's message is stored, the partial reply is not a reply."""
