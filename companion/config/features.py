"""Settings of the owner's console and of reaching out: broadcasts, mood, the survey, check-ins."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BroadcastSettings(BaseModel):
    """News broadcasts (`companion.broadcasts`): pace, lease, progress."""

    # Messages per second over all recipients, under Telegram's ~30/s for bulk notifications
    # (the bot's own replies need some room too). A 429 pauses every send for `retry_after`.
    rate_per_s: float = Field(default=25.0, gt=0, le=30)
    # Sends in flight at once: enough to keep the pace over a ~100 ms round trip.
    concurrency: int = Field(default=8, ge=1, le=64)
    # A worker holds a campaign this long unless renewed; after a crash another worker resumes
    # it once the lease runs out.
    lease_s: float = Field(default=30.0, gt=0)
    # How often an idle worker looks for a confirmed campaign (a confirm in the same process
    # wakes it at once).
    poll_interval_s: float = Field(default=5.0, gt=0)
    # How often the admin's progress message is edited.
    progress_interval_s: float = Field(default=3.0, gt=0)
    # 429 answers for one recipient before it counts as failed.
    max_retries: int = Field(default=5, ge=0)
    # On shutdown, sends in flight get this long to finish before they are dropped.
    stop_timeout_s: float = Field(default=10.0, gt=0)


class AnalyticsSettings(BaseModel):
    """The owner's reports (companion.analytics): keeping their daily sets of people computed."""

    # Closed days of the last N days are computed in the background (one worker per round),
    # so the owner's first 90-day report reads kept days instead of counting raw events
    # (seconds instead of a minute at 1M events; BENCHMARKS.md). 0 turns the keeper off.
    keep_days: int = Field(default=120, ge=0, le=400)
    keep_interval_s: float = Field(default=3600.0, gt=0)
    # After a start, wait this long first: the models' warm-up and first replies go first.
    keep_first_delay_s: float = Field(default=120.0, ge=0)


class MoodSettings(BaseModel):
    """The emotion classifier (companion.mood.classifier; docs/mood.md). What the product does
    with its readings is `MoodCareSettings`."""

    enabled: bool = True
    # "emotions" (the shipped model), "baseline" (word TF-IDF), or the path of a model file
    # pair written by training/mood/train_emotions.py (NAME.json + NAME.npz; no pickle).
    model: str = "emotions"
    # A head over the message's sentence vector (memory's embedder), blended with `model`
    # when that embedder is the one it was trained on (companion/mood/sentence_head.py).
    # "emotions_e5" (shipped), a file pair's path, or "" for the text model alone.
    sentence_head: str = "emotions_e5"


class MoodCareSettings(BaseModel):
    """What the product does with emotion readings (companion.mood; issue 17). The classifier
    itself is `MoodSettings`."""

    # Readings waiting for the background reader; beyond this, messages go unread (counted).
    queue_limit: int = Field(default=512, ge=1)
    batch_size: int = Field(default=16, ge=1)
    # How long shutdown waits for the readings still queued.
    drain_timeout_s: float = Field(default=10.0, ge=0.0)
    # A sustained negative trend: at least `negative_days` of the last `window_days` days with
    # readings were negative days (half or more of that day's messages negative).
    window_days: int = Field(default=7, ge=1)
    negative_days: int = Field(default=5, ge=1)
    # The offer of professional help (with the disclaimer) during such a trend, at most once
    # per this many days.
    help_offer_every_days: int = Field(default=14, ge=1)
    # /mood shows this many days.
    chart_days: int = Field(default=28, ge=7, le=90)
    # Admin aggregates hide groups with fewer distinct people than this (anonymity).
    min_group_users: int = Field(default=3, ge=1)


class SurveySettings(BaseModel):
    """The 1-10 satisfaction survey (companion.mood.survey)."""

    enabled: bool = True
    # Shown on the N-th distinct day with messages ...
    after_active_days: int = Field(default=3, ge=1)
    # ... and then at most once per this many days (a skip counts as shown).
    every_days: int = Field(default=30, ge=1)
    target_score: float = 7.5


class OutreachSettings(BaseModel):
    """Proactive check-ins written by the persona (companion.outreach; docs/outreach.md)."""

    enabled: bool = True
    quiet_start_hour: int = Field(default=22, ge=0, le=23)  # local time, user's zone
    quiet_end_hour: int = Field(default=9, ge=0, le=23)
    max_per_week: int = Field(default=2, ge=0)
    silence_days: int = Field(default=4, ge=1)
    followup_hour: int = Field(default=19, ge=0, le=23)  # the event day's evening
    crisis_days: int = Field(default=14, ge=0)  # after a crisis reply: reviewed text only
    poll_interval_s: float = Field(default=60.0, gt=0)
    lease_s: float = Field(default=300.0, gt=0)
    # Facts are planned this long after an exchange: memory learns ~90 s after it.
    plan_delay_s: float = Field(default=150.0, ge=0)
