"""A small incremental BM25 index for one user's records.

Why not `bm25s`: it precomputes a sparse score matrix for a fixed corpus, so every new fact or
message would rebuild the whole index. One user's memory changes a little after every exchange
and is queried after every message, so this index keeps postings per term and appends to them
in O(length of the new text); the document-length normalisation uses the live average at query
time. Removed documents are masked and compacted away by the owner's rebuild.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from companion.memory.growable import GrowableArray
from companion.memory.text import tokenize

Scores = npt.NDArray[np.float32]


class _Postings:
    __slots__ = ("rows", "tfs")

    def __init__(self) -> None:
        self.rows: GrowableArray[np.int64] = GrowableArray(np.int64, 4)
        self.tfs: GrowableArray[np.float32] = GrowableArray(np.float32, 4)

    def add(self, row: int, tf: float) -> None:
        self.rows.append(row)
        self.tfs.append(tf)


class BM25Index:
    """Okapi BM25 (Lucene idf) over documents addressed by row number 0..n-1."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._postings: dict[str, _Postings] = {}
        self._lengths: GrowableArray[np.float32] = GrowableArray(np.float32)
        self._alive: GrowableArray[np.bool_] = GrowableArray(np.bool_)
        self._alive_count = 0
        self._total_length = 0.0

    def __len__(self) -> int:
        return len(self._lengths)

    def add(self, text: str, weighted: tuple[str, float] | None = None) -> int:
        """Index `text` as the next row; returns its row number. `weighted`: a part of the
        row whose words count `weight` times each (term frequency and length alike, as if
        written that many times), e.g. the user's own message ahead of the reply."""
        row = len(self._lengths)
        counts: dict[str, float] = {}
        length = 0.0
        for part, weight in ((text, 1.0), weighted or ("", 0.0)):
            terms = tokenize(part)
            for term in terms:
                counts[term] = counts.get(term, 0.0) + weight
            length += weight * len(terms)
        for term, tf in counts.items():
            postings = self._postings.get(term)
            if postings is None:
                postings = self._postings[term] = _Postings()
            postings.add(row, tf)
        self._lengths.append(length)
        self._alive.append(True)
        self._alive_count += 1
        self._total_length += length
        return row

    def remove(self, row: int) -> None:
        """Stop counting `row` in statistics; its postings stay until the owner rebuilds."""
        if self._alive.view()[row]:
            self._alive[row] = False
            self._alive_count -= 1
            self._total_length -= float(self._lengths.view()[row])

    def ideal(self, query: str) -> float:
        """What a document holding every query term once, at average length, would score:
        the sum of the query terms' idf (a term no document holds counts with df = 0).

        Dividing by it puts BM25 on an absolute 0..~1 scale: a best match that shares one
        rare word of a five-word question scores low, where dividing by the best score would
        make it 1.0 whatever it shares."""
        n = self._alive_count
        if n == 0:
            return 0.0
        total = 0.0
        alive = self._alive.view()
        for term in set(tokenize(query)):
            postings = self._postings.get(term)
            df = 0
            if postings is not None:
                rows = postings.rows.view()
                df = len(rows) if n == len(alive) else int(alive[rows].sum())
            total += float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return total

    def scores(self, query: str) -> Scores:
        """BM25 score of every row for `query` (removed rows may score; the caller masks them)."""
        result = np.zeros(len(self._lengths), dtype=np.float32)
        terms = set(tokenize(query))
        if not terms or self._alive_count == 0:
            return result
        alive = self._alive.view()
        lengths = self._lengths.view()
        average = max(self._total_length / self._alive_count, 1.0)
        scale = self.k1 * self.b / average
        base = self.k1 * (1.0 - self.b)
        n = self._alive_count
        for term in terms:
            postings = self._postings.get(term)
            if postings is None:
                continue
            rows, tfs = postings.rows.view(), postings.tfs.view()
            df = len(rows) if self._alive_count == len(alive) else int(alive[rows].sum())
            if df == 0:
                continue
            idf = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
            # Length normalisation only for the rows holding the term, not the whole corpus.
            norm = base + scale * lengths[rows]
            result[rows] += idf * tfs * (self.k1 + 1.0) / (tfs + norm)
        return result
