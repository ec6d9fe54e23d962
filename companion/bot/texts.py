"""Model text made safe for Telegram: HTML-escaped, and split to fit one message."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from decimal import Decimal

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024

# The end of a sentence: terminal punctuation (and closing quotes/brackets) then whitespace.
_SENTENCE_END = re.compile(r"[.!?…。][\"'»)\]]*\s+")


def escape(text: str) -> str:
    """Escape for parse_mode=HTML: a model's stray `<`, `>` or `&` never breaks a send."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units (emoji outside the BMP count twice)."""
    return len(text.encode("utf-16-le")) // 2


def _prefix_within(text: str, limit: int) -> int:
    """The largest number of characters of `text` whose UTF-16 length is <= limit."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_message(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 units, at the best boundary found:
    a paragraph, a line, a sentence, a word, and only as a last resort inside a word.
    Parts are stripped; empty parts are dropped."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if utf16_len(rest) <= limit:
            parts.append(rest)
            break
        window_end = _prefix_within(rest, limit)
        window = rest[:window_end]
        cut = _best_cut(window)
        head, rest = window[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    return parts


def _best_cut(window: str) -> int:
    # Do not make tiny first parts: a boundary in the first third is not worth it.
    floor = len(window) // 3
    for separator in ("\n\n", "\n"):
        index = window.rfind(separator)
        if index > floor:
            return index + len(separator)
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() > floor]
    if sentence_ends:
        return sentence_ends[-1]
    index = max(window.rfind(" "), window.rfind("\t"))
    if index > floor:
        return index + 1
    return len(window)


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 units with an ellipsis (for captions and previews)."""
    if utf16_len(text) <= limit:
        return text
    return text[: _prefix_within(text, limit - 1)].rstrip() + "…"


def date_text(value: datetime | None) -> str:
    """A date as people read it in either language (UTC), or a dash."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%d.%m.%Y")


def money_text(value: Decimal) -> str:
    """Roubles without a needless ".00"."""
    return f"{value:.2f}".removesuffix(".00")
