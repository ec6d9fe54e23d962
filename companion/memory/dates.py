"""Resolving the time a fact refers to ("tomorrow", "завтра", "2026-03-05") to a date.

The extraction prompt asks the model for an ISO date, but small models often copy the user's
words instead ("next friday", "через 3 дня"). Those are resolved here against the date of the
message they came from, so "I have an exam tomorrow" said on 4 March becomes 5 March.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_ISO_RE = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})")
_OFFSETS = {
    "today": 0,
    "tonight": 0,
    "сегодня": 0,
    "tomorrow": 1,
    "завтра": 1,
    "day after tomorrow": 2,
    "the day after tomorrow": 2,
    "послезавтра": 2,
    "yesterday": -1,
    "вчера": -1,
    "day before yesterday": -2,
    "the day before yesterday": -2,
    "позавчера": -2,
    "next week": 7,
    "на следующей неделе": 7,
    "через неделю": 7,
    "last week": -7,
    "на прошлой неделе": -7,
    "неделю назад": -7,
}
_IN_N_RE = re.compile(
    r"^(?:in|через)\s+(\d{1,3})\s+(day|days|week|weeks|день|дня|дней|неделю|недели|недель)$"
)
_N_AGO_RE = re.compile(
    r"^(\d{1,3})\s+(day|days|week|weeks|день|дня|дней|неделю|недели|недель)\s+(?:ago|назад)$"
)
_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "понедельник": 0,
    "вторник": 1,
    "среду": 2,
    "среда": 2,
    "четверг": 3,
    "пятницу": 4,
    "пятница": 4,
    "субботу": 5,
    "суббота": 5,
    "воскресенье": 6,
}
_NEXT_WEEKDAY_RE = re.compile(
    r"^(?:next|this|on|в следующий|в следующую|в эту|в этот|в|во)?\s*(\w+)$"
)


def _unit_days(unit: str) -> int:
    return 7 if unit.startswith(("week", "недел")) else 1


def resolve_date(expression: str | None, reference: date) -> date | None:
    """The date `expression` means when said on `reference`; None when it is not understood."""
    if not expression:
        return None
    text = " ".join(expression.lower().replace("ё", "е").split()).strip(" .,!")
    iso = _ISO_RE.match(text)
    if iso:
        try:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        except ValueError:
            return None
    if text in _OFFSETS:
        return reference + timedelta(days=_OFFSETS[text])
    match = _IN_N_RE.match(text)
    if match:
        return reference + timedelta(days=int(match.group(1)) * _unit_days(match.group(2)))
    match = _N_AGO_RE.match(text)
    if match:
        return reference - timedelta(days=int(match.group(1)) * _unit_days(match.group(2)))
    match = _NEXT_WEEKDAY_RE.match(text)
    if match and match.group(1) in _WEEKDAYS:
        # The coming such day (a week ahead when it is today's weekday).
        ahead = (_WEEKDAYS[match.group(1)] - reference.weekday()) % 7 or 7
        return reference + timedelta(days=ahead)
    return None
