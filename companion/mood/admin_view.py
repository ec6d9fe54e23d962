"""The owner's mood and survey numbers as text lines, one language: shared by the admin
section in Telegram and `companion stats mood|survey`, so both say the same."""

from __future__ import annotations

from collections.abc import Callable

from companion.mood.reports import GroupMood, SurveyStats

Text = Callable[..., str]  # a Fluent lookup: key, **args -> text


def mood_lines(t: Text, groups: list[GroupMood], *, min_users: int) -> list[str]:
    lines = [t("admin-mood-groups", min=min_users)]
    if not groups:
        return [*lines, t("admin-mood-none")]
    for g in groups:
        lines.append(
            t(
                "admin-mood-row",
                kind=g.kind,
                group=g.key,
                week=g.week,
                users=g.users,
                messages=g.messages,
                negative=round(g.negative_share * 100),
                positive=round(g.positive_share * 100),
                satisfaction=f"{g.satisfaction:.1f}",
            )
        )
    return lines


def survey_lines(t: Text, stats: SurveyStats) -> list[str]:
    lines = [
        t(
            "admin-survey-title",
            answers=stats.answers,
            skipped=stats.skipped,
            comments=stats.comments,
        )
    ]
    target = f"{stats.target:.1f}"
    if stats.mean is None:
        return [*lines, t("admin-survey-nomean", target=target)]
    ok = "✅" if stats.meets_target else "⚠️"
    lines.append(t("admin-survey-mean", mean=f"{stats.mean:.2f}", target=target, ok=ok))
    distribution = " ".join(f"{score}:{count}" for score, count in stats.distribution.items())
    lines.append(t("admin-survey-distribution", distribution=distribution))
    lines.append(t("admin-survey-by-persona"))
    lines += [
        t("admin-survey-persona", group=g.key, mean=f"{g.mean:.2f}", answers=g.answers)
        for g in stats.by_persona
    ]
    lines.append(t("admin-survey-by-week"))
    lines += [
        t("admin-survey-week", group=g.key, mean=f"{g.mean:.2f}", answers=g.answers)
        for g in stats.by_week
    ]
    return lines
