"""Resolving the time a fact refers to ("tomorrow", "завтра", "2026-03-05", "June 3rd") to a date.

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
    # A calendar day as the model wrote it ("June 3rd", "3 июня", "03.06.2026").
    days = _calendar_windows(None, text, reference)
    return days[0][0] if len(days) == 1 else None


# -- date windows in free text ------------------------------------------------------------------
# A question such as "what did I do last weekend?" or "что я делал три недели назад?" names a
# span of time relative to when it is asked; a memory such as "yesterday I ran 10 km" (said on
# 5 May) names a day relative to when it was said. `find_windows` finds such expressions in any
# text and resolves them against the given reference date, so the retriever can favour records
# said in, or speaking of, the span a question asks about.

Window = tuple[date, date]  # first and last day, inclusive

_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple of": 2,
    "few": 3,
    "один": 1,
    "одну": 1,
    "два": 2,
    "две": 2,
    "три": 3,
    "четыре": 4,
    "пять": 5,
    "шесть": 6,
    "семь": 7,
    "восемь": 8,
    "девять": 9,
    "десять": 10,
    "пару": 2,
    "несколько": 3,
}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
# Month names: English, and Russian in the prepositional case ("в марте") and the genitive
# ("17 марта").
_EN_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_RU_MONTH_PREPOSITIONAL = [
    "январе",
    "феврале",
    "марте",
    "апреле",
    "мае",
    "июне",
    "июле",
    "августе",
    "сентябре",
    "октябре",
    "ноябре",
    "декабре",
]
_RU_MONTH_GENITIVE = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
_MONTHS = {
    name: number
    for names in (_EN_MONTH_NAMES, _RU_MONTH_PREPOSITIONAL)
    for number, name in enumerate(names, 1)
}
_WEEKDAY_NAMES = {**_WEEKDAYS, "понедельник": 0, "вторник": 1, "среду": 2, "четверг": 3}

_NUMBER_WORD = "|".join(sorted((re.escape(w) for w in _NUMBERS), key=len, reverse=True))
_AGO_RE = re.compile(
    rf"\b(\d{{1,3}}|{_NUMBER_WORD})\s+"
    r"(days?|weeks?|months?|years?|день|дня|дней|недел[юиь]|месяц(?:а|ев)?|год(?:а)?|лет)"
    r"\s+(?:ago|назад)\b"
)
_LAST_UNIT_RE = re.compile(
    r"\b(?:last|previous)\s+(week|month|year|weekend)\b"
    r"|\bна\s+прошлой\s+(неделе)\b|\bв\s+прошлом\s+(месяце|году)\b|\bв\s+прошлые\s+(выходные)\b"
)
_LAST_WEEKDAY_RE = re.compile(
    r"\b(?:last|this\s+past)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
    r"|\bв\s+прошл(?:ый|ую|ое)\s+(понедельник|вторник|среду|четверг|пятницу|субботу|воскресенье)\b"
)
# "in the past two weeks", "over the last 3 months", "the past month", "за последние две недели":
# every day from then up to the reference, not a point in time.
_SPAN_RE = re.compile(
    rf"\b(?:(?:past|last)\s+(?:({_NUMBER_WORD}|\d{{1,3}})\s+)?(days|weeks|months|years)"
    r"|past\s+(week|month|year))\b"
    rf"|\bза\s+последн(?:ие|юю|ий|ее)\s+(?:({_NUMBER_WORD}|\d{{1,3}})\s+)?"
    r"(дн(?:я|ей)|недел[юиь]|месяц(?:а|ев)?|год(?:а)?|лет)"
)
# "This week", "this month": from its first day up to the reference. Not "this year": in
# "my ambition for this year" the year is what is spoken of, not when it was said.
_THIS_RE = re.compile(
    r"\b(?:earlier\s+)?this\s+(week|month)\b|\bна\s+этой\s+(неделе)\b|\bв\s+этом\s+(месяце)\b"
)
_DAY_WORD_RE = re.compile(r"\b(yesterday|позавчера|вчера|today|сегодня)\b")
_MONTH_RE = re.compile(
    r"\b(?:in|в)\s+(?:the\s+month\s+of\s+)?("
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\b(?:\s+(\d{4}))?"
)

# A calendar day: "April 17th", "the 17th and 18th of April", "17 апреля", "с 17 по 18 апреля",
# "Apr 17, 2023", "2023-04-17", "17.04.2023". Without a year, the occurrence nearest the
# reference (a past day or a coming one: "my exam is on June 3rd" said in May).
_CALENDAR_MONTHS = {
    **{name: number for number, name in enumerate(_EN_MONTH_NAMES, 1)},
    **{name[:3]: number for number, name in enumerate(_EN_MONTH_NAMES, 1)},
    "sept": 9,
    **{name: number for number, name in enumerate(_RU_MONTH_GENITIVE, 1)},
}
_MONTH_WORD = "|".join(sorted(_CALENDAR_MONTHS, key=len, reverse=True))
_DAY = r"(\d{1,2})(?:st|nd|rd|th|-?го|-?е)?"
_DAY_MONTH_RE = re.compile(
    rf"\b(?:the\s+)?{_DAY}(?:\s*(?:-|–|to|and|&|и|по)\s*(?:the\s+)?{_DAY})?\s+(?:of\s+)?"
    rf"({_MONTH_WORD})\b\.?(?:,?\s+(\d{{4}}))?"
)
_MONTH_DAY_RE = re.compile(
    rf"\b({_MONTH_WORD})\b\.?\s+(?:the\s+)?{_DAY}(?:\s*(?:-|–|to|and|&)\s*{_DAY})?\b"
    r"(?:,?\s+(\d{4}))?"
)
_ISO_DAY_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
# "17.04.2023", as dates are written in Russian (day first, a two-digit month and the full
# year, so a version number "1.2.2026" is not one).
_DOTTED_DAY_RE = re.compile(r"\b(\d{1,2})\.(0[1-9]|1[0-2])\.(\d{4})\b")
# Most texts name no month: one quick search spares them the two patterns above.
_ANY_MONTH_RE = re.compile(rf"\b(?:{_MONTH_WORD})\b")


def _calendar_day(year: str | None, month: int, day: str, reference: date) -> date | None:
    """The day named, in the year given or the one that puts it nearest the reference."""
    try:
        if year:
            return date(int(year), month, int(day))
        options = []
        for candidate in (reference.year - 1, reference.year, reference.year + 1):
            try:
                options.append(date(candidate, month, int(day)))
            except ValueError:
                continue
        return min(options, key=lambda d: abs((d - reference).days)) if options else None
    except ValueError:
        return None


def _calendar_windows(spaced: str | None, lowered: str, reference: date) -> list[Window]:
    """`spaced`: the text with single spaces, case kept (`lowered` is it in lower case);
    None when the text is known to be a date ("may 5th" then is the month)."""
    windows: list[Window] = []
    named: list[tuple[int, str | None, str, str, str | None]] = []

    def is_month(match: re.Match[str], group: int) -> bool:
        # "you may 3D-print it", "these 2 may work": the month May is written with a capital.
        return (
            match.group(group) != "may"
            or spaced is None
            or len(spaced) != len(lowered)
            or spaced[match.start(group)] == "M"
        )

    if _ANY_MONTH_RE.search(lowered) is not None:
        named += [
            (m.start(), m.group(4), m.group(3), m.group(1), m.group(2))
            for m in _DAY_MONTH_RE.finditer(lowered)
            if is_month(m, 3)
        ]
        named += [
            (m.start(), m.group(4), m.group(1), m.group(2), m.group(3))
            for m in _MONTH_DAY_RE.finditer(lowered)
            if is_month(m, 1)
        ]
    for _, year, month_word, first_day, last_day in sorted(named):
        month = _CALENDAR_MONTHS[month_word]
        first = _calendar_day(year, month, first_day, reference)
        if first is None:
            continue
        last = _calendar_day(str(first.year), month, last_day, reference) if last_day else None
        windows.append((first, last if last is not None and last >= first else first))
    for match in _ISO_DAY_RE.finditer(lowered):
        day = _calendar_day(match.group(1), int(match.group(2)), match.group(3), reference)
        if day is not None:
            windows.append((day, day))
    for match in _DOTTED_DAY_RE.finditer(lowered):
        day = _calendar_day(match.group(3), int(match.group(2)), match.group(1), reference)
        if day is not None:
            windows.append((day, day))
    return windows


def _unit(word: str) -> str:
    if word.startswith(("day", "ден", "дн")):
        return "day"
    if word.startswith(("week", "недел")):
        return "week"
    if word.startswith(("month", "месяц")):
        return "month"
    return "year"


def _around(center: date, days: int) -> Window:
    return center - timedelta(days=days), center + timedelta(days=days)


def find_windows(text: str, reference: date) -> list[Window]:
    """Spans of days that relative or named dates in `text` mean when said on `reference`.

    English and Russian; the width of a span grows with its distance (a "month ago" is not
    one exact day), so a near date still matches.
    """
    spaced = " ".join(text.replace("ё", "е").replace("Ё", "Е").split())
    lowered = spaced.lower()
    windows: list[Window] = []
    for match in _DAY_WORD_RE.finditer(lowered):
        offset = {"yesterday": -1, "вчера": -1, "позавчера": -2}.get(match.group(1), 0)
        windows.append(_around(reference + timedelta(days=offset), 0))
    for match in _AGO_RE.finditer(lowered):
        count = _NUMBERS.get(match.group(1)) or int(match.group(1))
        days = count * _UNIT_DAYS[_unit(match.group(2))]
        windows.append(_around(reference - timedelta(days=days), max(1, days // 4)))
    for match in _LAST_UNIT_RE.finditer(lowered):
        word = next(group for group in match.groups() if group)
        if word in ("weekend", "выходные"):
            # The Saturday and Sunday before the reference day.
            saturday = reference - timedelta(days=(reference.weekday() - 5) % 7 or 7)
            windows.append((saturday, saturday + timedelta(days=1)))
            continue
        days = _UNIT_DAYS[_unit(word.replace("неделе", "week").replace("году", "year"))]
        windows.append(_around(reference - timedelta(days=days), max(2, days // 2)))
    for match in _LAST_WEEKDAY_RE.finditer(lowered):
        weekday = _WEEKDAY_NAMES[next(group for group in match.groups() if group)]
        back = (reference.weekday() - weekday) % 7 or 7
        windows.append(_around(reference - timedelta(days=back), 0))
    for match in _SPAN_RE.finditer(lowered):
        count_word = match.group(1) or match.group(4)
        unit_word = match.group(2) or match.group(3) or match.group(5)
        count = (_NUMBERS.get(count_word) or int(count_word)) if count_word else 1
        windows.append(
            (reference - timedelta(days=count * _UNIT_DAYS[_unit(unit_word)]), reference)
        )
    for match in _THIS_RE.finditer(lowered):
        word = next(group for group in match.groups() if group)
        if _unit(word.replace("неделе", "week")) == "week":
            windows.append((reference - timedelta(days=reference.weekday()), reference))
        else:
            windows.append((reference.replace(day=1), reference))
    for match in _MONTH_RE.finditer(lowered):
        month = _MONTHS[match.group(1)]
        year = int(match.group(2)) if match.group(2) else reference.year
        if not match.group(2) and (month, 1) > (reference.month, 1):
            year -= 1  # "in March" asked in February: last year's March
        first = date(year, month, 1)
        last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        windows.append((first, last))
    windows.extend(_calendar_windows(spaced, lowered, reference))
    return windows
