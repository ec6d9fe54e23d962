"""Emotion data sets in CEDR's shape: read, parse the labels, split for honest reports.

CEDR's CSV has a `text` column and a `labels` column with label codes in brackets separated by
spaces (``[1 2]``; ``[]`` = no emotion). Codes: 0 joy, 1 sadness, 2 surprise, 3 fear, 4 anger.
Label names (``[sadness fear]``) are accepted too, so a hand-made set need not know the codes.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from companion.mood.emotions import Emotion

# Column order of every label matrix in the classifier (CEDR's code order). NONE is no column:
# a row without any label is "no emotion".
LABELS: tuple[Emotion, ...] = (
    Emotion.JOY,
    Emotion.SADNESS,
    Emotion.SURPRISE,
    Emotion.FEAR,
    Emotion.ANGER,
)
_BY_NAME = {label.value: label for label in LABELS}


class EmotionDataError(ValueError):
    """A data file that is not in CEDR's shape (the message says which row and why)."""


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    labels: frozenset[Emotion]


def parse_labels(raw: str) -> frozenset[Emotion]:
    """``"[1 2]"`` / ``"[sadness surprise]"`` / ``"[]"`` / ``"none"`` -> a set of labels.

    An empty set means no emotion (CEDR's ``[]``); ``none`` alone says the same.
    """
    body = raw.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    labels: set[Emotion] = set()
    for part in body.replace(",", " ").split():
        token = part.strip().strip("'\"").lower()
        if token == Emotion.NONE.value:
            continue
        if token.isdigit():
            code = int(token)
            if code >= len(LABELS):
                raise EmotionDataError(f"unknown label code {code} (0-{len(LABELS) - 1})")
            labels.add(LABELS[code])
        elif token in _BY_NAME:
            labels.add(_BY_NAME[token])
        else:
            raise EmotionDataError(f"unknown label {part!r}")
    return frozenset(labels)


def read_csv(path: Path) -> list[LabelledText]:
    """Rows of a CSV with `text` and `labels` columns (other columns are ignored)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            fields = set(reader.fieldnames or ())
            if not {"text", "labels"} <= fields:
                raise EmotionDataError(
                    f"{path}: needs the columns text and labels, found {sorted(fields)}"
                )
            rows: list[LabelledText] = []
            for line, row in enumerate(reader, start=2):
                try:
                    labels = parse_labels(row["labels"] or "")
                except EmotionDataError as exc:
                    raise EmotionDataError(f"{path}:{line}: {exc}") from None
                rows.append(LabelledText(text=row["text"] or "", labels=labels))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmotionDataError(f"{path}: {exc}") from exc
    return rows


def is_holdout(text: str, *, percent: int = 20, salt: str = "cedr-holdout-v1") -> bool:
    """Whether a text belongs to the held-out report split.

    Decided by a hash of the text, not by row order or a random state: the split is the same
    on every machine and in every script, and duplicate sentences never straddle it.
    """
    digest = hashlib.blake2b(f"{salt}\n{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < percent


def split(
    rows: Sequence[LabelledText], *, holdout_percent: int = 20
) -> tuple[list[LabelledText], list[LabelledText]]:
    """(fit, holdout): models are fitted and tuned on `fit` only, reported on `holdout`."""
    fit: list[LabelledText] = []
    held: list[LabelledText] = []
    for row in rows:
        (held if is_holdout(row.text, percent=holdout_percent) else fit).append(row)
    return fit, held


def label_matrix(label_sets: Iterable[frozenset[Emotion]]) -> list[list[int]]:
    """0/1 rows in `LABELS` order (NONE, if present, is ignored: it is the empty row)."""
    return [[int(label in labels) for label in LABELS] for labels in label_sets]
