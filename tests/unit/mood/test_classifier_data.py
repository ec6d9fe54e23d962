"""CEDR's label encoding and the held-out split."""

from __future__ import annotations

from pathlib import Path

import pytest

from companion.mood.classifier_data import (
    EmotionDataError,
    LabelledText,
    is_holdout,
    parse_labels,
    read_csv,
    split,
)
from companion.mood.emotions import Emotion


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[]", set()),
        ("[0]", {Emotion.JOY}),
        ("[1 2]", {Emotion.SADNESS, Emotion.SURPRISE}),
        ("[4 3 1]", {Emotion.ANGER, Emotion.FEAR, Emotion.SADNESS}),
        ("[1, 4]", {Emotion.SADNESS, Emotion.ANGER}),
        ("['anger' 'fear']", {Emotion.ANGER, Emotion.FEAR}),
        ("none", set()),
        ("[none]", set()),
        (" [2] ", {Emotion.SURPRISE}),
    ],
)
def test_labels_parse_in_cedr_codes_and_names(raw: str, expected: set[Emotion]) -> None:
    assert parse_labels(raw) == frozenset(expected)


@pytest.mark.parametrize("raw", ["[5]", "[joy happy]", "[-1]"])
def test_unknown_labels_are_refused(raw: str) -> None:
    with pytest.raises(EmotionDataError):
        parse_labels(raw)


def test_read_csv_names_the_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('text,labels,source\nfine,[0],lj\n"broken, row",[9],lj\n', encoding="utf-8")
    with pytest.raises(EmotionDataError, match=r"bad\.csv:3: unknown label code 9"):
        read_csv(path)


def test_read_csv_needs_text_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("sentence,emotion\nhi,[0]\n", encoding="utf-8")
    with pytest.raises(EmotionDataError, match="needs the columns text and labels"):
        read_csv(path)


def test_read_csv_keeps_quoted_commas_and_ignores_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text(
        'text,labels,source\n"Так, ну и ну",[2 0],lj\nпросто факт,[],lenta\n', encoding="utf-8"
    )
    assert read_csv(path) == [
        LabelledText("Так, ну и ну", frozenset({Emotion.SURPRISE, Emotion.JOY})),
        LabelledText("просто факт", frozenset()),
    ]


def test_holdout_split_is_by_text_stable_and_about_a_fifth() -> None:
    rows = [LabelledText(f"сообщение номер {i}", frozenset()) for i in range(2000)]
    fit, held = split(rows)
    assert len(fit) + len(held) == 2000
    assert 330 < len(held) < 470
    assert {r.text for r in fit}.isdisjoint(r.text for r in held)
    # Same text, same side, whatever the order or the neighbours.
    assert split(list(reversed(rows)))[1] == list(reversed(held))
    assert all(is_holdout(r.text) for r in held)
