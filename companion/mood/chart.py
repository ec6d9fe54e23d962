"""The /mood chart: a PNG of the daily mood score, drawn with matplotlib's Agg backend (no
display), meant to run in a worker thread (`asyncio.to_thread`): drawing takes ~100 ms of CPU."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

# `Figure` without pyplot: no GUI backend is ever chosen (PNG goes through Agg), and no global
# figure registry, so two charts can be drawn in two threads at once.
from matplotlib.figure import Figure

from companion.mood.trends import DayMood

_LABELS = {
    "ru": ("Настроение по дням", "лучше", "тяжелее"),
    "en": ("Your mood by day", "better", "harder"),
}


def render_chart(series: Sequence[DayMood], language: str) -> bytes:
    """Bars from -1 (every message sad, anxious or angry) to +1 (every message joyful); days
    without messages are grey."""
    title, up, down = _LABELS.get(language, _LABELS["en"])
    days = [date.fromisoformat(day.day) for day in series]
    positions = list(range(len(days)))
    scores = [day.score if day.score is not None else 0.0 for day in series]
    colors = [
        "#cccccc" if day.score is None else "#4caf50" if (day.score or 0) >= 0 else "#ef8354"
        for day in series
    ]
    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.subplots()
    axes.bar(positions, scores, color=colors, width=0.8)
    axes.axhline(0, color="#888888", linewidth=0.8)
    axes.set_ylim(-1.05, 1.05)
    axes.set_yticks([-1, 0, 1], [down, "0", up])
    axes.set_title(title)
    step = max(1, len(days) // 10)
    axes.set_xticks(positions[::step], [day.strftime("%d.%m") for day in days[::step]], rotation=45)
    axes.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
