"""One user's records held for search: a growable vector matrix, BM25 postings and per-row
metadata (time, importance, scope, neighbours, the days the text speaks of, language).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from companion.memory.bm25 import BM25Index
from companion.memory.dates import Window, find_windows
from companion.memory.growable import GrowableArray
from companion.memory.languages import UNKNOWN, language_of
from companion.memory.records import MemoryRecord

log = logging.getLogger(__name__)


class RowArrays(NamedTuple):
    alive: npt.NDArray[np.bool_]
    times: npt.NDArray[np.float64]
    importance: npt.NDArray[np.float64]
    scopes: npt.NDArray[np.int32]  # codes from UserIndex.scope_codes


_UNIX_EPOCH_ORDINAL = float(datetime(1970, 1, 1).toordinal())
_NO_DAY = -1.0  # in refers_from/refers_to: the text names no date


class UserIndex:
    """One user's records: a growable vector matrix, BM25 postings and per-row metadata."""

    def __init__(self, neighbour_gap_s: float = 1800.0, user_words_weight: float = 1.0) -> None:
        # The vector size is taken from the first record (no model load just to know it).
        self.dimension = 0
        self.neighbour_gap_s = neighbour_gap_s
        # BM25 counts the words of an exchange's user message this many times (RetrieverConfig).
        self.user_words_weight = user_words_weight
        self.matrix: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self.loaded_at = time.monotonic()
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.texts: list[str] = []
        self.user_chars: list[int] = []
        self.times: GrowableArray[np.float64] = GrowableArray(np.float64)
        self.importance: GrowableArray[np.float64] = GrowableArray(np.float64)
        self.scopes: GrowableArray[np.int32] = GrowableArray(np.int32)
        self.scope_codes: dict[str, int] = {}
        self.alive: GrowableArray[np.bool_] = GrowableArray(np.bool_)
        # The exchanges just before and after each row in the same conversation (-1: none):
        # a record added within neighbour_gap_s after the last one of its scope follows it.
        self.previous: GrowableArray[np.int64] = GrowableArray(np.int64)
        self.following: GrowableArray[np.int64] = GrowableArray(np.int64)
        self._last_of_scope: dict[int, int] = {}
        # The span of days the text speaks of ("yesterday" said on 5 May: 4 May), as ordinals.
        self.refers_from: GrowableArray[np.float64] = GrowableArray(np.float64)
        self.refers_to: GrowableArray[np.float64] = GrowableArray(np.float64)
        # The language each row is in (companion.memory.languages codes), for the shift
        # that lets a question in one language find a record said in the other.
        self.languages: GrowableArray[np.int8] = GrowableArray(np.int8)
        self.language_codes: set[int] = set()  # of every row ever added
        self.dead = 0
        self.bm25 = BM25Index()

    @property
    def size(self) -> int:
        return len(self.ids)

    def live_count(self) -> int:
        return self.size - self.dead

    def add(self, record: MemoryRecord) -> None:
        assert record.vector is not None
        if record.id in self.rows:
            self.remove(record.id)
        row = self.size
        if self.dimension == 0:
            self.dimension = int(record.vector.shape[-1])
        if row >= self.matrix.shape[0]:
            grown = np.zeros((max(16, row * 2), self.dimension), dtype=np.float32)
            if row:
                grown[:row] = self.matrix[:row]
            self.matrix = grown
        self.matrix[row] = record.vector
        self.ids.append(record.id)
        self.rows[record.id] = row
        self.texts.append(record.text)
        self.user_chars.append(record.user_chars)
        self.times.append(record.time.timestamp())
        self.importance.append(float(record.importance))
        code = self.scope_codes.setdefault(record.scope, len(self.scope_codes))
        self.scopes.append(code)
        self.alive.append(True)
        self._link(row, code, record.time.timestamp())
        windows = find_windows(record.text, record.time.date())
        self.refers_from.append(min(w[0] for w in windows).toordinal() if windows else _NO_DAY)
        self.refers_to.append(max(w[1] for w in windows).toordinal() if windows else _NO_DAY)
        language = language_of(record.text)
        self.languages.append(language)
        self.language_codes.add(language)
        lead = record.user_chars
        if lead > 0 and self.user_words_weight != 1.0:
            self.bm25.add(record.text[lead:], weighted=(record.text[:lead], self.user_words_weight))
        else:
            self.bm25.add(record.text)

    def _link(self, row: int, scope: int, when: float) -> None:
        self.previous.append(-1)
        self.following.append(-1)
        last = self._last_of_scope.get(scope)
        self._last_of_scope[scope] = row
        if last is None:
            return
        gap = when - float(self.times.view()[last])
        if 0 <= gap <= self.neighbour_gap_s:
            self.previous[row] = last
            self.following[last] = row

    def has_other_language(self, language: int) -> bool:
        """Whether any row (live or not) is in a known language other than `language`."""
        return bool(self.language_codes - {language, UNKNOWN})

    def remove(self, record_id: str) -> bool:
        row = self.rows.pop(record_id, None)
        if row is None:
            return False
        self.alive[row] = False
        self.dead += 1
        self.bm25.remove(row)
        return True

    @property
    def scope_names(self) -> list[str]:
        names = [""] * len(self.scope_codes)
        for name, code in self.scope_codes.items():
            names[code] = name
        return names

    def records(
        self, rows: Sequence[int] | None = None, *, with_vectors: bool = True
    ) -> list[MemoryRecord]:
        scope_names = self.scope_names
        alive, times, importance, scopes = self.arrays()
        chosen = range(self.size) if rows is None else rows
        return [
            MemoryRecord(
                id=self.ids[row],
                text=self.texts[row],
                time=datetime.fromtimestamp(float(times[row]), UTC),
                importance=float(importance[row]),
                scope=scope_names[int(scopes[row])],
                vector=self.matrix[row].copy() if with_vectors else None,
                user_chars=self.user_chars[row],
            )
            for row in chosen
            if alive[row]
        ]

    def in_windows(
        self,
        windows: Sequence[Window],
        mask: npt.NDArray[np.bool_],
        refers_weight: float = 1.0,
    ) -> npt.NDArray[np.float64]:
        """For rows said in, or speaking of, one of the spans of days: how selective the span
        is (1 - the share of the `mask` rows inside it); else 0. A row that only speaks of a
        day in the span (said outside it) gets `refers_weight` times that.

        "A week ago" picks out a few conversations and tells a lot; "in the past few months"
        may hold most of the history and tells nothing, so it lifts (almost) nothing. A row
        said on 1 May that mentions "yesterday" is about April only now and then; a whole
        day of such rows can crowd out what was said in April.
        """
        hits = np.zeros(self.size, dtype=np.float64)
        live = int(mask.sum())
        if not windows or live == 0:
            return hits
        said = np.floor(self.times.view() / 86400.0) + _UNIX_EPOCH_ORDINAL
        refers_from, refers_to = self.refers_from.view(), self.refers_to.view()
        for first, last in windows:
            low, high = float(first.toordinal()), float(last.toordinal())
            said_in = (said >= low) & (said <= high)
            refers = (refers_from >= 0) & (refers_from <= high) & (refers_to >= low)
            selectivity = 1.0 - float(((said_in | refers) & mask).sum()) / live
            weight = np.where(said_in, 1.0, np.where(refers, refers_weight, 0.0))
            hits = np.maximum(hits, selectivity * weight)
        return hits

    def arrays(self) -> RowArrays:
        """(alive mask, times, importance, scope codes) of the rows, as views (no copy)."""
        return RowArrays(
            self.alive.view(), self.times.view(), self.importance.view(), self.scopes.view()
        )


def build_index(
    records: Sequence[MemoryRecord],
    neighbour_gap_s: float = 1800.0,
    user_words_weight: float = 1.0,
) -> UserIndex:
    index = UserIndex(neighbour_gap_s, user_words_weight)
    skipped = 0
    # In time order, so the exchanges of one conversation become each other's neighbours.
    for record in sorted(records, key=lambda record: record.time):
        if record.vector is None:
            continue
        if index.dimension and record.vector.shape[-1] != index.dimension:
            skipped += 1  # embedded by another model: not comparable with the others
            continue
        index.add(record)
    if skipped:
        log.warning(
            "%d records have vectors of another size than the rest (was the embedding model "
            "changed without re-embedding?); they are left out of search",
            skipped,
        )
    return index
