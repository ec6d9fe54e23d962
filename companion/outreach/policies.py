"""Whether a due check-in may go out now, and as what. Pure: the caller reads the facts.

In order: the person exists, consented, has not blocked the bot, has not opted out
(/checkins off), still talks to the persona that would write, and (for an event) the fact is
still remembered; a job due long ago is stale; inside quiet hours it waits; within
`crisis_days` of a crisis reply only the reviewed template may be sent, never model text.
The weekly cap is taken atomically by the store when sending (`JobStore.reserve_slot`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from companion.config import OutreachSettings
from companion.domain.models import User
from companion.outreach.jobs import CheckinJob, JobKind, SkipReason
from companion.outreach.planner import next_allowed

# Past this, "how did it go?" sounds odd (the bot was down for days): the job is dropped.
STALE_AFTER = {JobKind.EVENT: timedelta(hours=36), JobKind.SILENCE: timedelta(days=3)}


class Action(StrEnum):
    WRITE = "write"  # the persona writes it through the model
    TEMPLATE = "template"  # the human-reviewed text from the locales (after a crisis)
    DEFER = "defer"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    reason: SkipReason | str | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Circumstances:
    """What the service read about the person for one job."""

    user: User | None
    zone: tzinfo
    last_crisis_at: datetime | None = None
    fact_exists: bool = True


def decide(
    job: CheckinJob, facts: Circumstances, now: datetime, settings: OutreachSettings
) -> Verdict:
    user = facts.user
    if user is None:
        return Verdict(Action.SKIP, SkipReason.NO_USER)
    if not user.has_consented:
        return Verdict(Action.SKIP, SkipReason.NO_CONSENT)
    if user.blocked_at is not None:
        return Verdict(Action.SKIP, SkipReason.BLOCKED)
    if not user.settings.checkins:
        return Verdict(Action.SKIP, SkipReason.OPTED_OUT)
    if user.current_persona_id != job.persona_id:
        return Verdict(Action.SKIP, SkipReason.PERSONA_CHANGED)
    if job.kind is JobKind.EVENT and not facts.fact_exists:
        return Verdict(Action.SKIP, SkipReason.FACT_GONE)
    if now - job.scheduled_at > STALE_AFTER[job.kind]:
        return Verdict(Action.SKIP, SkipReason.STALE)
    allowed = next_allowed(now, facts.zone, settings)
    if allowed > now:
        return Verdict(Action.DEFER, "quiet_hours", allowed)
    crisis = facts.last_crisis_at
    if crisis is not None and now - crisis < timedelta(days=settings.crisis_days):
        return Verdict(Action.TEMPLATE, SkipReason.CRISIS)
    return Verdict(Action.WRITE)
