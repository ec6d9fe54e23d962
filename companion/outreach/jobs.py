"""A check-in job as stored (`outreach_jobs`): what to write to whom, when, and how it ended."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel


class JobKind(StrEnum):
    EVENT = "event"  # "How did the exam go?" after a remembered dated event
    SILENCE = "silence"  # a gentle note after days without messages


class JobState(StrEnum):
    PENDING = "pending"  # waiting for its due time (possibly leased by a worker right now)
    SENDING = "sending"  # the Bot API call may have happened: never sent again (see store)
    SENT = "sent"
    SKIPPED = "skipped"  # a policy said no for good (opted out, blocked, stale...)
    UNKNOWN = "unknown"  # a worker died between "sending" and "sent": maybe delivered


class SkipReason(StrEnum):
    NO_USER = "no_user"
    NO_CONSENT = "no_consent"
    OPTED_OUT = "opted_out"
    BLOCKED = "blocked"
    PERSONA_CHANGED = "persona_changed"
    NO_CONVERSATION = "no_conversation"
    NO_ACCESS = "no_access"  # PRO lapsed, or an 18+ persona not confirmed
    FACT_GONE = "fact_gone"
    WEEKLY_CAP = "weekly_cap"
    CRISIS = "crisis"  # in the crisis window with no reviewed template to send
    STALE = "stale"  # due too long ago (the bot was down): a late "how did it go" is odd
    FAILED = "failed"  # gave up after retries (model or Telegram kept failing)


class CheckinJob(BaseModel):
    id: str  # the unique key: "event:<user>:<fact>" or "silence:<user>"
    kind: JobKind
    user_id: int
    persona_id: str
    # When to look at it next: the planned time, or the end of the lease while it is held.
    due_at: datetime
    # When it was planned for (the staleness check); moved only by a deferral or a retry.
    scheduled_at: datetime
    state: JobState = JobState.PENDING
    fact_id: str | None = None
    event_date: date | None = None
    # Silence: the user's last message when the job was planned.
    last_activity_at: datetime | None = None
    attempts: int = 0
    lease_token: str | None = None
    lease_until: datetime | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    reason: str | None = None
