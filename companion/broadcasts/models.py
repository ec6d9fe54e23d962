"""Campaigns, their content and segments, recipient states and the final report."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class CampaignStatus(StrEnum):
    DRAFT = "draft"  # composed, previewed, no recipients yet
    CONFIRMED = "confirmed"  # recipients written, waiting for a worker
    SENDING = "sending"  # a worker holds the lease
    DONE = "done"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (CampaignStatus.CONFIRMED, CampaignStatus.SENDING)


class RecipientState(StrEnum):
    PENDING = "pending"
    # Written just before the Bot API call: a crash between the call and the next write leaves
    # the recipient here, and a restarted worker does not send again (at most once).
    CLAIMED = "claimed"
    SENT = "sent"
    BLOCKED = "blocked"  # 403: blocked the bot, or the account is deleted
    FAILED = "failed"  # Telegram refused the message (chat not found, ...)
    # Claimed by a worker that died, or the request got no answer: maybe delivered, not resent.
    UNCONFIRMED = "unconfirmed"
    # No longer in the audience when its turn came: opted out, blocked, or erased since confirm.
    SKIPPED = "skipped"


class SegmentKind(StrEnum):
    ALL = "all"
    PRO = "pro"
    FREE = "free"
    LANGUAGE = "language"
    PERSONA = "persona"
    INACTIVE = "inactive"


class Segment(BaseModel):
    """Who gets a campaign, always among consented users who did not block the bot or opt out
    of news (`companion.broadcasts.segments`)."""

    kind: SegmentKind
    language: str | None = None  # LANGUAGE: "ru" | "en"
    persona_id: str | None = None  # PERSONA: the persona they talk to now
    inactive_days: int | None = Field(default=None, ge=1, le=3650)  # INACTIVE


class Button(BaseModel):
    text: str
    url: str


class Content(BaseModel):
    """What every recipient gets: HTML text (a photo's caption when `photo` is set)."""

    text: str = ""
    photo: str | None = None  # a Telegram file_id the admin sent to the bot
    buttons: list[Button] = Field(default_factory=list)


class Campaign(BaseModel):
    id: str
    status: CampaignStatus = CampaignStatus.DRAFT
    content: Content
    created_by: int
    admin_language: str = "en"
    segment: Segment | None = None
    total: int = 0
    created_at: datetime
    confirmed_at: datetime | None = None
    finished_at: datetime | None = None
    # The admin's message that shows progress and then the outcome.
    progress_chat_id: int | None = None
    progress_message_id: int | None = None
    report_sent: bool = False


class Report(BaseModel):
    """Recipients by state; what the final report and the progress line show."""

    total: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    unconfirmed: int = 0
    skipped: int = 0
    pending: int = 0  # still to go (or left unsent by a cancel)
    claimed: int = 0

    @property
    def processed(self) -> int:
        return self.total - self.pending - self.claimed

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Report:
        known = {state.value for state in RecipientState}
        fields = {state: counts.get(state, 0) for state in known}
        return cls(total=sum(fields.values()), **fields)

    def add(self, state: RecipientState) -> None:
        setattr(self, state.value, getattr(self, state.value) + 1)

    def move(self, before: RecipientState, after: RecipientState) -> None:
        setattr(self, before.value, max(0, getattr(self, before.value) - 1))
        self.add(after)


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"
    FAILED = "failed"
    RETRY = "retry"  # 429: nothing was sent; wait `retry_after` and try again
    UNCONFIRMED = "unconfirmed"  # no answer: it may have been delivered


class Delivery(BaseModel):
    outcome: Outcome
    retry_after: float = 0.0
    # Telegram's description ("Forbidden: bot was blocked by the user"): no personal data.
    detail: str = ""


class ContentError(ValueError):
    """The admin's buttons cannot be used; `line` is 1-based."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


MAX_BUTTONS = 8
MAX_BUTTON_TEXT = 64
_URL = re.compile(r"^(https?://[^\s/$.?#][^\s]*|tg://[^\s]+)$", re.IGNORECASE)


def parse_buttons(text: str) -> list[Button]:
    """URL buttons from lines ``Text | https://...``; blank lines are ignored.

    Raises `ContentError` with the reason ("format", "text", "url", "count") and the line.
    """
    buttons: list[Button] = []
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if len(lines) > MAX_BUTTONS:
        raise ContentError("count", lines[MAX_BUTTONS][0])
    for number, line in lines:
        label, sep, url = line.rpartition("|")
        label, url = label.strip(), url.strip()
        if not sep:
            raise ContentError("format", number)
        if not label or len(label) > MAX_BUTTON_TEXT:
            raise ContentError("text", number)
        if not _URL.match(url):
            raise ContentError("url", number)
        buttons.append(Button(text=label, url=url))
    if not buttons:
        raise ContentError("format", 1)
    return buttons
