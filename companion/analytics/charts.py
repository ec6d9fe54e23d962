"""Reports drawn as PNG images with matplotlib (the Agg backend: no display, no GUI toolkit).

`render` is CPU work of 50-200 ms; the bot calls `render_async`, which runs it in a thread so
the event loop keeps serving others. matplotlib's pyplot keeps global state, so figures are
built with the object API (`Figure`) only: safe to draw from several threads.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before anything else of matplotlib is imported

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from companion.analytics.period import Period
from companion.analytics.reports import (
    RETENTION_DAYS,
    ActivityReport,
    FunnelReport,
    PaywallReport,
    PopularityReport,
    Report,
    RetentionReport,
    RevenueReport,
    SubscriptionsReport,
)

_SIZE = (9.0, 5.0)
_DPI = 100


def _figure(title: str, period: Period) -> tuple[Figure, Axes]:
    figure = Figure(figsize=_SIZE, dpi=_DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(f"{title}  ({period.label()})")
    axes.grid(True, alpha=0.3)
    return figure, axes


def _days(period: Period) -> list[str]:
    return [day.strftime("%m-%d") for day in period.days]


def _thin_ticks(axes: Axes, labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 12)
    axes.set_xticks(range(0, len(labels), step), [labels[i] for i in range(0, len(labels), step)])


def _activity(report: ActivityReport) -> Figure:
    figure, axes = _figure("Activity", report.period)
    x = range(report.period.length)
    axes.bar(x, report.messages, color="#9ecae1", label="messages")
    axes.bar(x, report.voice, color="#3182bd", label="voice notes")
    axes.set_ylabel("messages")
    people = axes.twinx()
    people.plot(x, report.dau, color="#e6550d", marker="o", label="DAU")
    people.plot(x, report.new_users, color="#31a354", marker=".", label="new users")
    people.set_ylabel("people")
    people.set_ylim(bottom=0)
    for scale in (axes.yaxis, people.yaxis):
        scale.set_major_locator(MaxNLocator(integer=True))
    _thin_ticks(axes, _days(report.period))
    handles = axes.get_legend_handles_labels()
    more = people.get_legend_handles_labels()
    axes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
    return figure


def _bars(title: str, period: Period, labels: list[str], values: list[int]) -> Figure:
    figure, axes = _figure(title, period)
    bars = axes.barh(range(len(values)), values, color="#6baed6")
    axes.set_yticks(range(len(labels)), labels)
    axes.invert_yaxis()  # the first step (or the most popular) on top
    axes.bar_label(bars, [str(v) for v in values], padding=3)
    return figure


def _funnel(report: FunnelReport) -> Figure:
    return _bars(
        "Onboarding funnel",
        report.period,
        [step.replace("_", " ") for step, _ in report.steps],
        [count for _, count in report.steps],
    )


def _popularity(report: PopularityReport) -> Figure:
    rows = [(f"[{r.key}]", r.users) for r in report.modules]
    rows += [(r.key, r.users) for r in report.personas[:12]]
    return _bars(
        "People per module and persona", report.period, [r[0] for r in rows], [r[1] for r in rows]
    )


def _paywall(report: PaywallReport) -> Figure:
    return _bars(
        "Paywall -> checkout -> payment (people)",
        report.period,
        ["paywall views", "checkouts", "payments"],
        [report.views, report.checkouts, report.payments],
    )


def _revenue(report: RevenueReport) -> Figure:
    figure, axes = _figure("Revenue per day (gross)", report.period)
    x = range(report.period.length)
    for currency, values in report.daily.items():
        axes.plot(x, [float(v) for v in values], marker="o", label=currency)
    if report.daily:
        axes.legend(loc="upper left")
    axes.set_ylim(bottom=0)
    _thin_ticks(axes, _days(report.period))
    return figure


def _subscriptions(report: SubscriptionsReport) -> Figure:
    return _bars(
        "PRO subscriptions",
        report.period,
        ["active PRO", "new PRO", "renewals", "churned"],
        [report.active_pro, report.new_pro, report.renewals, report.churned],
    )


def _retention(report: RetentionReport) -> Figure:
    figure, axes = _figure("Retention by cohort (accepted the terms on)", report.period)
    x = range(report.period.length)
    for offset in RETENTION_DAYS:
        shares = [
            None if (kept := c.retained.get(offset)) is None or c.size == 0 else 100 * kept / c.size
            for c in report.cohorts
        ]
        axes.plot(
            x, [float("nan") if s is None else s for s in shares], marker="o", label=f"D{offset}"
        )
    axes.set_ylabel("% of the cohort")
    axes.set_ylim(0, 100)
    axes.legend(loc="upper right")
    _thin_ticks(axes, _days(report.period))
    return figure


def render(report: Report) -> bytes:
    """The report's chart as PNG bytes."""
    if isinstance(report, ActivityReport):
        figure = _activity(report)
    elif isinstance(report, FunnelReport):
        figure = _funnel(report)
    elif isinstance(report, PopularityReport):
        figure = _popularity(report)
    elif isinstance(report, PaywallReport):
        figure = _paywall(report)
    elif isinstance(report, RevenueReport):
        figure = _revenue(report)
    elif isinstance(report, SubscriptionsReport):
        figure = _subscriptions(report)
    else:
        figure = _retention(report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


async def render_async(report: Report) -> bytes:
    """`render` in a worker thread, off the event loop."""
    return await asyncio.to_thread(render, report)
