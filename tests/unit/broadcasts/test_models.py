"""The admin's button lines and the report's arithmetic."""

from __future__ import annotations

import pytest

from companion.broadcasts.models import (
    Button,
    ContentError,
    RecipientState,
    Report,
    parse_buttons,
)


def test_button_lines() -> None:
    text = "Our site | https://example.com/news?a=1\n\n  Channel|tg://resolve?domain=x  \n"
    assert parse_buttons(text) == [
        Button(text="Our site", url="https://example.com/news?a=1"),
        Button(text="Channel", url="tg://resolve?domain=x"),
    ]
    # A "|" inside the text is kept: the URL is what follows the last one.
    assert parse_buttons("A | B | http://x.org") == [Button(text="A | B", url="http://x.org")]


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        ("no separator here", "format", 1),
        ("", "format", 1),
        ("ok | https://a.io\n | https://b.io", "text", 2),
        ("x" * 65 + " | https://a.io", "text", 1),
        ("Site | example.com", "url", 1),
        ("Site | javascript:alert(1)", "url", 1),
        ("Site | https://exa mple.com", "url", 1),
        ("\n".join(f"b{n} | https://a.io/{n}" for n in range(9)), "count", 9),
    ],
)
def test_bad_button_lines_name_the_line(text: str, reason: str, line: int) -> None:
    with pytest.raises(ContentError) as caught:
        parse_buttons(text)
    assert (caught.value.reason, caught.value.line) == (reason, line)


def test_report_counts_and_moves() -> None:
    report = Report.from_counts({"pending": 3, "sent": 2, "blocked": 1, "junk": 7})
    assert (report.total, report.processed) == (6, 3)
    report.move(RecipientState.PENDING, RecipientState.CLAIMED)
    assert (report.pending, report.claimed, report.processed) == (2, 1, 3)
    report.move(RecipientState.CLAIMED, RecipientState.FAILED)
    assert (report.claimed, report.failed, report.processed, report.total) == (0, 1, 4, 6)
