"""Numbers for the owner: a satisfaction estimate per conversation, anonymous mood trends per
persona and module, and the survey's results. Pure functions over readings and answers (tests
check them against hand-counted fixtures), plus `MoodReports`, which loads a period.

Anonymous: nothing here names a person; a group (persona or module, week) with fewer than
`min_group_users` distinct people is left out, so a rare persona cannot reveal one user's mood.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from companion.mood.store import MoodStore, StoredReading
from companion.mood.survey import SurveyResponse, SurveyService
from companion.mood.trends import POSITIVE


def week_of(day: str) -> str:
    """ISO week of an ISO date: "2026-W49"."""
    year, week, _ = datetime.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def satisfaction_estimate(readings: Sequence[StoredReading]) -> float:
    """1-10 for one conversation, from its mood and engagement: the share of joyful minus the
    share of negative messages moves it most (±2.5 around 5.5), length adds up to 1.5 (more
    messages, more interest) and return visits (distinct days) up to 1.0."""
    tally = _Conversation()
    for r in readings:
        tally.add(r)
    return tally.estimate()


@dataclass(slots=True)
class _Conversation:
    """What the estimate needs of one conversation: counts, not the readings."""

    total: int = 0
    positive: int = 0
    negative: int = 0
    days: set[str] = field(default_factory=set)

    def add(self, r: StoredReading) -> None:
        self.total += 1
        self.positive += bool(r.reading.labels & POSITIVE)
        self.negative += r.reading.negative
        self.days.add(r.day)

    def estimate(self) -> float:
        if not self.total:
            return 5.5
        score = (
            5.5
            + 2.5 * (self.positive - self.negative) / self.total
            + min(1.5, math.log2(1 + self.total) / 4)
            + min(1.0, (len(self.days) - 1) * 0.25)
        )
        return round(min(10.0, max(1.0, score)), 2)


@dataclass(frozen=True, slots=True)
class GroupMood:
    """One anonymous group: a persona (or module) in a week."""

    kind: str  # "persona" | "module"
    key: str
    week: str
    users: int
    messages: int
    negative_share: float
    positive_share: float
    satisfaction: float  # mean estimate over the group's conversations


class MoodAggregator:
    """Groups readings one at a time (a period can hold millions: only counts are kept, per
    group and conversation, and the set of people per group)."""

    def __init__(self) -> None:
        self._conversations: dict[tuple[str, str, str], dict[str, _Conversation]] = defaultdict(
            dict
        )
        self._users: dict[tuple[str, str, str], set[int]] = defaultdict(set)

    def add(self, r: StoredReading) -> None:
        week = week_of(r.day)
        for group in (("persona", r.persona_id, week), ("module", r.module, week)):
            conversations = self._conversations[group]
            tally = conversations.get(r.conversation_id)
            if tally is None:
                tally = conversations[r.conversation_id] = _Conversation()
            tally.add(r)
            self._users[group].add(r.user_id)

    def groups(self, *, min_users: int) -> list[GroupMood]:
        """Per persona and per module and ISO week; groups under `min_users` people left out."""
        result = []
        for (kind, key, week), conversations in sorted(self._conversations.items()):
            users = len(self._users[(kind, key, week)])
            if users < min_users:
                continue
            tallies = list(conversations.values())
            total = sum(t.total for t in tallies)
            estimates = [t.estimate() for t in tallies]
            result.append(
                GroupMood(
                    kind=kind,
                    key=key,
                    week=week,
                    users=users,
                    messages=total,
                    negative_share=round(sum(t.negative for t in tallies) / total, 3),
                    positive_share=round(sum(t.positive for t in tallies) / total, 3),
                    satisfaction=round(sum(estimates) / len(estimates), 2),
                )
            )
        return result


def mood_groups(readings: Iterable[StoredReading], *, min_users: int) -> list[GroupMood]:
    """`MoodAggregator` over `readings`."""
    aggregator = MoodAggregator()
    for r in readings:
        aggregator.add(r)
    return aggregator.groups(min_users=min_users)


@dataclass(frozen=True, slots=True)
class ScoreGroup:
    key: str
    answers: int
    mean: float


@dataclass(frozen=True, slots=True)
class SurveyStats:
    answers: int
    skipped: int
    mean: float | None
    target: float
    distribution: dict[int, int] = field(default_factory=dict)  # score 1-10 -> answers
    by_persona: list[ScoreGroup] = field(default_factory=list)
    by_week: list[ScoreGroup] = field(default_factory=list)
    comments: int = 0

    @property
    def meets_target(self) -> bool:
        return self.mean is not None and self.mean >= self.target


def survey_stats(responses: Iterable[SurveyResponse], *, target: float) -> SurveyStats:
    scored: list[SurveyResponse] = []
    skipped = 0
    for response in responses:
        if response.score is None:
            skipped += 1
        else:
            scored.append(response)
    distribution = {score: 0 for score in range(1, 11)}
    for response in scored:
        distribution[int(response.score or 0)] += 1

    def grouped(key: Callable[[SurveyResponse], str]) -> list[ScoreGroup]:
        groups: dict[str, list[int]] = defaultdict(list)
        for response in scored:
            groups[key(response)].append(int(response.score or 0))
        return [
            ScoreGroup(name, len(scores), round(sum(scores) / len(scores), 2))
            for name, scores in sorted(groups.items())
        ]

    return SurveyStats(
        answers=len(scored),
        skipped=skipped,
        mean=round(sum(int(r.score or 0) for r in scored) / len(scored), 2) if scored else None,
        target=target,
        distribution=distribution,
        by_persona=grouped(lambda r: r.persona_id),
        by_week=grouped(lambda r: week_of(r.at.date().isoformat())),
        comments=sum(1 for r in scored if r.has_comment),
    )


class MoodReports:
    """Loads a period and aggregates it (the admin screen and `companion stats`)."""

    def __init__(
        self,
        store: MoodStore,
        survey: SurveyService,
        *,
        min_group_users: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._survey = survey
        self._min_users = min_group_users
        self._clock = clock

    @property
    def min_group_users(self) -> int:
        return self._min_users

    def _last(self, days: int) -> tuple[datetime, datetime]:
        until = self._clock()
        return until - timedelta(days=days), until + timedelta(seconds=1)

    async def mood(self, days: int = 28) -> list[GroupMood]:
        return await self.mood_between(*self._last(days))

    async def survey(self, days: int = 180) -> SurveyStats:
        return await self.survey_between(*self._last(days))

    async def mood_between(self, since: datetime, until: datetime) -> list[GroupMood]:
        """Readings in [since, until), grouped; only groups of `min_group_users` or more."""
        aggregator = MoodAggregator()
        async for reading in self._store.between(since, until):
            aggregator.add(reading)
        return aggregator.groups(min_users=self._min_users)

    async def survey_between(self, since: datetime, until: datetime) -> SurveyStats:
        responses = [r async for r in self._survey.between(since, until)]
        return survey_stats(responses, target=self._survey.settings.target_score)
