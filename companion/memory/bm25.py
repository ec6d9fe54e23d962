"""A small incremental BM25 index for one user's records.

Why not `bm25s`: it precomputes a sparse score matrix for a fixed corpus, so every new fact or
message would rebuild the whole index. One user's memory changes a little after every exchange
and is queried after every message, so this index keeps postings per term and appends to them
in O(length of the new text); the document-length normalisation uses the live average at query
time. Removed documents are masked and compacted away by the owner's rebuild.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from companion.memory.text import tokenize

Scores = npt.NDArray[np.float32]


class _Postings:
    __slots__ = ("_cache", "rows", "tfs")

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.tfs: list[int] = []
        self._cache: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None = None

    def add(self, row: int, tf: int) -> None:
        self.rows.append(row)
        self.tfs.append(tf)
        self._cache = None

    def arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        if self._cache is None:
            self._cache = (
                np.asarray(self.rows, dtype=np.int64),
                np.asarray(self.tfs, dtype=np.float32),
            )
        return self._cache


class BM25Index:
    """Okapi BM25 (Lucene idf) over documents addressed by row number 0..n-1."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, _Postings] = {}
        self._lengths: list[int] = []
        self._alive: list[bool] = []
        self._alive_count = 0
        self._total_length = 0
        self._lengths_cache: npt.NDArray[np.float32] | None = None
        self._alive_cache: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, text: str) -> int:
        """Index `text` as the next row; returns its row number."""
        row = len(self._lengths)
        terms = tokenize(text)
        for term, tf in Counter(terms).items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.add(row, tf)
        self._lengths.append(len(terms))
        self._alive.append(True)
        self._alive_count += 1
        self._total_length += len(terms)
        self._lengths_cache = None
        self._alive_cache = None
        return row

    def remove(self, row: int) -> None:
        """Stop counting `row` in statistics; its postings stay until the owner rebuilds."""
        if self._alive[row]:
            self._alive[row] = False
            self._alive_count -= 1
            self._total_length -= self._lengths[row]
            self._alive_cache = None

    def scores(self, query: str) -> Scores:
        """BM25 score of every row for `query` (removed rows may score; the caller masks them)."""
        result = np.zeros(len(self._lengths), dtype=np.float32)
        terms = set(tokenize(query))
        if not terms or self._alive_count == 0:
            return result
        if self._lengths_cache is None:
            self._lengths_cache = np.asarray(self._lengths, dtype=np.float32)
        if self._alive_cache is None:
            self._alive_cache = np.asarray(self._alive, dtype=np.bool_)
        alive = self._alive_cache
        average = max(self._total_length / self._alive_count, 1.0)
        norm = self.k1 * (1.0 - self.b + self.b * self._lengths_cache / average)
        n = self._alive_count
        for term in terms:
            postings = self._postings.get(term)
            if postings is None:
                continue
            rows, tfs = postings.arrays()
            df = len(rows) if self._alive_count == len(alive) else int(alive[rows].sum())
            if df == 0:
                continue
            idf = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
            result[rows] += idf * tfs * (self.k1 + 1.0) / (tfs + norm[rows])
        return result
