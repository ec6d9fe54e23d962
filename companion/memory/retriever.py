"""The retriever: ranked recall over one user's records (facts or past exchanges).

One component, used for both kinds of memory. It works on any records of
``(id, text, time, importance)`` for a user and answers "which of this user's records matter
for this query", best first.

Python API::

    retriever = Retriever(embedder, source)             # source loads a user's stored records
    await retriever.index(user_id, [MemoryRecord(id, text, time, importance=4)])
    await retriever.remove(user_id, ["id-1"])
    hits = await retriever.search(user_id, "where do I live?", k=5)   # list[ScoredId]
    texts = fit_to_budget([...], budget_tokens=600, count_tokens=len)

How a query is ranked (see `RetrieverConfig` for the knobs):

1. dense: cosine similarity of the query vector with every record vector of the user (exact:
   one numpy matrix-vector product over the user's normalised vectors; per-user data is small),
   or MongoDB ``$vectorSearch`` when a `DenseSearch` is given (``memory.vector_search=atlas``);
2. lexical: BM25 over Russian/English stems (`companion.memory.bm25`);
3. the top candidates of both are fused: cosine + a small weight times BM25 (scaled to the
   query's best match) + recency (exponential decay with a half-life) + importance (1..5);
   weighted reciprocal rank fusion is the alternative (`RetrieverConfig(fusion="rrf")`);
4. MMR (maximal marginal relevance) picks the final k so near-duplicates do not crowd out
   other relevant records.

Storage stays with the owner of the records (the fact and episode repositories): the
retriever reads a user's records through a `RecordSource` on first use and keeps them in an
LRU-bounded in-memory cache; `index` and `remove` keep that cache in step with the writes the
owner makes, so a search never needs a database round trip once the user is warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from companion.memory.bm25 import BM25Index
from companion.memory.dates import find_windows
from companion.memory.embedder import Embedder, Vector, normalize_rows
from companion.memory.fusion import (
    minmax,
    rocchio,
    rrf,
    share_of_best,
    share_of_ideal,
    smooth_with_neighbours,
    standardize,
    superseded,
)
from companion.memory.growable import GrowableArray

log = logging.getLogger(__name__)

UserId = int
_UNIX_EPOCH_ORDINAL = float(datetime(1970, 1, 1).toordinal())


@dataclass(frozen=True, slots=True)
class MemoryRecord:
    """One searchable item. `scope` lets a search keep to a subset (e.g. one persona)."""

    id: str
    text: str
    time: datetime
    importance: float = 3.0
    scope: str = ""
    vector: Vector | None = None


@dataclass(frozen=True, slots=True)
class ScoredId:
    id: str
    score: float  # the fused, boosted score the ranking used
    dense: float  # cosine similarity with the query (-1..1)
    lexical: float  # raw BM25 score (0 = no shared stem)


class RecordSource(Protocol):
    """Where a user's records (with their vectors) are read from on a cold cache."""

    async def load(self, user_id: UserId) -> list[MemoryRecord]: ...


class DenseSearch(Protocol):
    """An external nearest-neighbour search (MongoDB `$vectorSearch`): (id, cosine) pairs."""

    async def __call__(
        self, user_id: UserId, vector: Vector, limit: int, scope: str | None
    ) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class RetrieverConfig:
    candidates: int = 50  # taken from each of the dense and lexical rankings, and for MMR
    # How the two rankings become one relevance per row (`companion.memory.fusion`):
    # "normalized" (default): dense_weight * cosine rescaled to 0..1 over the candidates
    #   + lexical_weight * BM25 / the query's best BM25 ("best") or / the ideal ("query":
    #   what a record holding every question term would score, so weak matches stay weak);
    # "adaptive": BM25 gets lexical_weight times its coverage of the question (the
    #   best BM25 score / what a record holding every question term would score, capped at
    #   1), the cosine (rescaled to 0..1 over the candidates) the rest: a question that shares
    #   its rare words with a record is a keyword question, a paraphrase is the embedder's;
    # "zscore": dense_weight and lexical_weight times each signal's z-score over the user;
    # "rrf": weighted reciprocal rank fusion of the two rankings (scores ignored).
    # Then, on any: + neighbour_weight * the better neighbour's relevance (the exchanges just
    # before and after, within neighbour_gap_s), + date_weight when the record was said in
    # (or speaks of) a span of days the query names ("last weekend", "в марте"),
    # + recency_weight * 0.5 ** (age / half-life) + importance_weight * (importance - 3) / 2.
    # With expansion_weight > 0 a second dense pass moves the query vector towards the
    # expansion_docs best records of the first (pseudo-relevance feedback, for multi-hop).
    # The defaults were fitted on one half of the questions of three sets and reported on
    # the other half and on sets never used for fitting: BENCHMARKS.md, "Memory: recall".
    fusion: Literal["normalized", "adaptive", "zscore", "rrf"] = "normalized"
    rrf_k: float = 60.0
    dense_weight: float = 0.5
    lexical_weight: float = 0.5
    # BM25 divided by the query's best match ("best"), or by what a document holding every
    # query term would score ("query": weak matches stay weak, see BM25Index.ideal).
    lexical_scale: Literal["best", "query"] = "query"
    neighbour_weight: float = 0.0
    neighbour_gap_s: float = 1800.0
    expansion_weight: float = 0.0
    expansion_docs: int = 2
    date_weight: float = 0.05
    # A candidate is superseded when a newer candidate about the same thing (their cosine in
    # the top supersede_quantile of the candidates' pairs) is at least half as relevant: the
    # user's situation changed ("moved to Tver" after "I live in Kazan"); it loses this much.
    supersede_weight: float = 0.1
    supersede_quantile: float = 0.95
    supersede_gap_s: float = 86400.0
    recency_half_life_days: float = 240.0
    recency_weight: float = 0.3
    importance_weight: float = 0.05
    # MMR trade-off: 1.0 = pure relevance, lower = more diversity.
    mmr_lambda: float = 0.8
    max_users: int = 512  # users whose index stays in memory (LRU)
    # A cached user is reloaded from the source after this long, which bounds how stale the
    # cache can be when another process (the CLI, a second bot replica) changed the records.
    cache_ttl_s: float | None = 600.0
    blas_threads: int | None = 1  # see Retriever._blas_limit; None leaves BLAS alone


class InMemoryRecordSource:
    """A `RecordSource` that holds records in a dict: for benchmarks and tests."""

    def __init__(self) -> None:
        self.records: dict[UserId, dict[str, MemoryRecord]] = {}

    def put(self, user_id: UserId, records: Sequence[MemoryRecord]) -> None:
        bucket = self.records.setdefault(user_id, {})
        for record in records:
            bucket[record.id] = record

    def delete(self, user_id: UserId, ids: Collection[str]) -> None:
        bucket = self.records.get(user_id, {})
        for record_id in ids:
            bucket.pop(record_id, None)

    async def load(self, user_id: UserId) -> list[MemoryRecord]:
        return list(self.records.get(user_id, {}).values())


class _RowArrays(NamedTuple):
    alive: npt.NDArray[np.bool_]
    times: npt.NDArray[np.float64]
    importance: npt.NDArray[np.float64]
    scopes: npt.NDArray[np.int32]  # codes from _UserIndex.scope_codes


_NO_DAY = -1.0  # in refers_from/refers_to: the text names no date


class _UserIndex:
    """One user's records: a growable vector matrix, BM25 postings and per-row metadata."""

    def __init__(self, neighbour_gap_s: float = 1800.0) -> None:
        # The vector size is taken from the first record (no model load just to know it).
        self.dimension = 0
        self.neighbour_gap_s = neighbour_gap_s
        self.matrix: npt.NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self.loaded_at = time.monotonic()
        self.ids: list[str] = []
        self.rows: dict[str, int] = {}
        self.texts: list[str] = []
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
        self.times.append(record.time.timestamp())
        self.importance.append(float(record.importance))
        code = self.scope_codes.setdefault(record.scope, len(self.scope_codes))
        self.scopes.append(code)
        self.alive.append(True)
        self._link(row, code, record.time.timestamp())
        windows = find_windows(record.text, record.time.date())
        self.refers_from.append(min(w[0] for w in windows).toordinal() if windows else _NO_DAY)
        self.refers_to.append(max(w[1] for w in windows).toordinal() if windows else _NO_DAY)
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
            )
            for row in chosen
            if alive[row]
        ]

    def arrays(self) -> _RowArrays:
        """(alive mask, times, importance, scope codes) of the rows, as views (no copy)."""
        return _RowArrays(
            self.alive.view(), self.times.view(), self.importance.view(), self.scopes.view()
        )


class Retriever:
    """Hybrid (dense + BM25) search over each user's records, with a per-user LRU cache."""

    def __init__(
        self,
        embedder: Embedder,
        source: RecordSource,
        *,
        config: RetrieverConfig | None = None,
        dense_search: DenseSearch | None = None,
    ) -> None:
        self.embedder = embedder
        self.source = source
        self.config = config or RetrieverConfig()
        self.dense_search = dense_search
        self._cache: OrderedDict[UserId, _UserIndex] = OrderedDict()
        self._locks: dict[UserId, asyncio.Lock] = {}
        self._threadpools: Any = None  # a threadpoolctl controller, made on first search

    def invalidate(self, user_id: UserId) -> None:
        """Drop the user's cached index; the next call reloads it from the source."""
        self._cache.pop(user_id, None)

    def cached_users(self) -> int:
        return len(self._cache)

    async def index(self, user_id: UserId, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
        """Add or replace records (by id) for a user; embeds those without a vector.

        Returns the records with their vectors, for the caller to store.
        """
        missing = [record for record in records if record.vector is None]
        embedded: dict[str, Vector] = {}
        if missing:
            vectors = await self.embedder.embed_passages([record.text for record in missing])
            embedded = {record.id: vectors[i] for i, record in enumerate(missing)}
        ready = [
            replace(
                record,
                vector=normalize_rows(
                    embedded[record.id] if record.vector is None else record.vector
                )[0],
            )
            for record in records
        ]
        index = await self._user(user_id)
        for record in ready:
            index.add(record)
        return ready

    async def remove(self, user_id: UserId, ids: Collection[str]) -> None:
        # Under the user's lock: a load that started before the caller's delete reached the
        # database finishes first, and the removal then applies to what it loaded.
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            index = self._cache.get(user_id)
        if index is None:
            return
        for record_id in ids:
            index.remove(record_id)
        self._maybe_compact(user_id, index)

    async def records(
        self,
        user_id: UserId,
        *,
        ids: Collection[str] | None = None,
        min_importance: float | None = None,
        with_vectors: bool = True,
    ) -> list[MemoryRecord]:
        """The user's live records (from the cache, loading it if needed), optionally only
        those with the given ids or at least `min_importance`; without vectors it is cheap."""
        index = await self._user(user_id)
        rows: list[int] | None = None
        if ids is not None:
            rows = [index.rows[i] for i in ids if i in index.rows]
        if min_importance is not None:
            important = np.flatnonzero(index.importance.view() >= min_importance).tolist()
            rows = important if rows is None else sorted(set(rows) & set(important))
        return index.records(rows, with_vectors=with_vectors)

    async def search(
        self,
        user_id: UserId,
        query: str,
        k: int,
        *,
        now: datetime | None = None,
        query_vector: Vector | None = None,
        exclude: Collection[str] = (),
        scope: str | None = None,
    ) -> list[ScoredId]:
        """The user's `k` best records for `query`, best first."""
        index = await self._user(user_id)
        if k <= 0 or index.live_count() == 0:
            return []
        if query_vector is None:
            query_vector = (await self.embedder.embed_queries([query]))[0]
        qv = np.asarray(query_vector, dtype=np.float32)
        external: list[tuple[str, float]] | None = None
        if self.dense_search is not None:
            external = await self.dense_search(user_id, qv, self.config.candidates, scope)
        with self._blas_limit():
            return self._rank(index, query, qv, k, now, exclude, scope, external)

    def _rank(
        self,
        index: _UserIndex,
        query: str,
        qv: Vector,
        k: int,
        now: datetime | None,
        exclude: Collection[str],
        scope: str | None,
        external: list[tuple[str, float]] | None,
    ) -> list[ScoredId]:
        alive, times, importance, scopes = index.arrays()
        mask = alive.copy()
        if scope is not None:
            code = index.scope_codes.get(scope)
            if code is None:
                return []
            mask &= scopes == code
        for record_id in exclude:
            row = index.rows.get(record_id)
            if row is not None:
                mask[row] = False
        if not mask.any():
            return []
        cfg = self.config
        matrix = index.matrix[: index.size]
        dense = matrix @ qv
        if external is None:
            dense_order = _top(np.where(mask, dense, -np.inf), cfg.candidates, positive_only=False)
        else:
            rows_of = (index.rows.get(record_id) for record_id, _ in external)
            dense_order = [row for row in rows_of if row is not None and mask[row]]
        lexical = index.bm25.scores(query)
        lexical[~mask] = 0.0
        lexical_order = _top(lexical, cfg.candidates, positive_only=True)
        if not dense_order and not lexical_order:
            return []

        ideal = (
            index.bm25.ideal(query)
            if cfg.lexical_scale == "query" or cfg.fusion == "adaptive"
            else None
        )
        relevance = self._fuse(dense, dense_order, lexical, lexical_order, ideal, mask)
        if cfg.expansion_weight > 0 and external is None:
            # Second pass: the query moved towards what the first pass found best.
            found = _top(
                np.where(mask, relevance, -np.inf), cfg.expansion_docs, positive_only=False
            )
            moved = rocchio(qv, matrix[found], cfg.expansion_weight)
            dense = matrix @ moved
            dense_order = _top(np.where(mask, dense, -np.inf), cfg.candidates, positive_only=False)
            relevance = self._fuse(dense, dense_order, lexical, lexical_order, ideal, mask)
            dense = matrix @ qv  # reported cosines stay those of the query itself
        relevance[~mask] = 0.0
        relevance = smooth_with_neighbours(
            relevance, index.previous.view(), index.following.view(), cfg.neighbour_weight
        )
        if cfg.date_weight > 0:
            relevance += cfg.date_weight * self._in_query_window(index, query, now, times)

        # The candidates for the final pick: the best fused rows among the candidates of
        # either ranking and what neighbours or dates lifted above zero.
        eligible = mask & (relevance > 0)
        eligible[dense_order] = True
        eligible[lexical_order] = True
        pool = max(cfg.candidates, k)
        rows = np.asarray(
            _top(np.where(eligible, relevance, -np.inf), pool, positive_only=False),
            dtype=np.int64,
        )
        if rows.size == 0:
            return []
        when = (now or datetime.now(UTC)).timestamp()
        age_days = np.maximum(when - times[rows], 0.0) / 86400.0
        recency = np.power(0.5, age_days / cfg.recency_half_life_days)
        prior = importance[rows] - 3.0
        scores = (
            relevance[rows] + cfg.recency_weight * recency + cfg.importance_weight * prior / 2.0
        )
        if cfg.supersede_weight > 0:
            scores = scores - cfg.supersede_weight * superseded(
                index.matrix[rows],
                times[rows],
                relevance[rows],
                cfg.supersede_quantile,
                cfg.supersede_gap_s,
            )
        chosen = _mmr(index.matrix, rows, scores, k, cfg.mmr_lambda)
        return [
            ScoredId(
                id=index.ids[row],
                score=float(score),
                dense=float(dense[row]),
                lexical=float(lexical[row]),
            )
            for row, score in chosen
        ]

    def _fuse(
        self,
        dense: npt.NDArray[np.float32],
        dense_order: list[int],
        lexical: npt.NDArray[np.float32],
        lexical_order: list[int],
        ideal: float | None,
        mask: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """Relevance of every row (0 for rows in neither candidate list), by the fusion mode."""
        cfg = self.config
        size = dense.shape[0]
        if cfg.fusion == "rrf":
            return rrf(
                [(dense_order, cfg.dense_weight), (lexical_order, cfg.lexical_weight)],
                size,
                cfg.rrf_k,
            )
        candidates = np.asarray(sorted(set(dense_order) | set(lexical_order)), dtype=np.int64)
        if cfg.fusion == "adaptive":
            # BM25's say grows with how much of the question its best match covers (score /
            # ideal): a question sharing its rare words with a record is a keyword question,
            # a paraphrase (no shared rare words) is the embedder's.
            best = float(lexical.max()) if lexical.size else 0.0
            coverage = min(1.0, best / ideal) if ideal else 0.0
            lexical_weight = cfg.lexical_weight * coverage
            fused = (1.0 - lexical_weight) * minmax(dense, candidates) + lexical_weight * (
                share_of_best(lexical)
            )
            outside = np.ones(size, dtype=np.bool_)
            outside[candidates] = False
            fused[outside] = 0.0
            return fused
        if cfg.fusion == "zscore":
            # How far each row stands out from the user's other records, per signal: a
            # confident signal (one record far above the rest) weighs more for this query.
            fused = cfg.dense_weight * standardize(dense, mask) + cfg.lexical_weight * (
                standardize(lexical, mask)
            )
            outside = np.ones(size, dtype=np.bool_)
            outside[candidates] = False
            fused[outside] = 0.0
            return np.maximum(fused, 0.0) / 4.0
        lexical_part = share_of_best(lexical) if ideal is None else share_of_ideal(lexical, ideal)
        fused = cfg.dense_weight * minmax(dense, candidates) + cfg.lexical_weight * lexical_part
        outside = np.ones(size, dtype=np.bool_)
        outside[candidates] = False
        fused[outside] = 0.0
        return fused

    @staticmethod
    def _in_query_window(
        index: _UserIndex, query: str, now: datetime | None, times: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """1.0 for rows said in, or speaking of, a span of days the query names; else 0."""
        windows = find_windows(query, (now or datetime.now(UTC)).date())
        hits = np.zeros(index.size, dtype=np.float64)
        if not windows:
            return hits
        said = np.floor(times / 86400.0) + _UNIX_EPOCH_ORDINAL
        refers_from, refers_to = index.refers_from.view(), index.refers_to.view()
        for first, last in windows:
            low, high = float(first.toordinal()), float(last.toordinal())
            inside = (said >= low) & (said <= high)
            inside |= (refers_from >= 0) & (refers_from <= high) & (refers_to >= low)
            hits[inside] = 1.0
        return hits

    def _blas_limit(self) -> contextlib.AbstractContextManager[object]:
        """One BLAS thread for the small matrix products of a search.

        OpenBLAS splits even a 100x384 product over all cores; on a busy 2-core host the
        threads wait for each other and a 0.4 ms product takes 10+ ms. The limit is switched
        on for the synchronous ranking only (threadpoolctl; a no-op when it is missing).
        """
        if self._threadpools is None:
            try:
                from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

                self._threadpools = ThreadpoolController()
            except ImportError:
                self._threadpools = False
        if self._threadpools is False or self.config.blas_threads is None:
            return contextlib.nullcontext()
        return self._threadpools.limit(limits=self.config.blas_threads, user_api="blas")  # type: ignore[no-any-return]

    async def _user(self, user_id: UserId) -> _UserIndex:
        cached = self._cache.get(user_id)
        if cached is not None and not self._expired(cached):
            self._cache.move_to_end(user_id)
            return cached
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(user_id)
            if cached is not None and not self._expired(cached):
                return cached
            stored = await self.source.load(user_id)
            # Tokenising thousands of texts takes a while: keep the event loop free meanwhile.
            index = await asyncio.to_thread(_build_index, stored, self.config.neighbour_gap_s)
            self._cache[user_id] = index
            self._cache.move_to_end(user_id)
            while len(self._cache) > self.config.max_users:
                evicted, _ = self._cache.popitem(last=False)
                self._locks.pop(evicted, None)
            return index

    def _expired(self, index: _UserIndex) -> bool:
        ttl = self.config.cache_ttl_s
        return ttl is not None and time.monotonic() - index.loaded_at > ttl

    def _maybe_compact(self, user_id: UserId, index: _UserIndex) -> None:
        # Removed rows cost a little on every search; rebuild once they are a quarter.
        if index.dead > max(32, index.size // 4):
            rebuilt = _build_index(index.records(), self.config.neighbour_gap_s)
            rebuilt.loaded_at = index.loaded_at
            self._cache[user_id] = rebuilt


def _build_index(records: Sequence[MemoryRecord], neighbour_gap_s: float = 1800.0) -> _UserIndex:
    index = _UserIndex(neighbour_gap_s)
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


def _top(scores: npt.NDArray[np.float32], limit: int, *, positive_only: bool) -> list[int]:
    """Row numbers of the `limit` highest finite scores, best first."""
    valid = scores > 0 if positive_only else np.isfinite(scores)
    count = int(valid.sum())
    if count == 0:
        return []
    limit = min(limit, count)
    candidates = np.where(valid, scores, -np.inf)
    if limit < candidates.shape[0]:
        part = np.argpartition(-candidates, limit - 1)[:limit]
    else:
        part = np.arange(candidates.shape[0])
    ordered = part[np.argsort(-candidates[part], kind="stable")]
    return [int(row) for row in ordered[:limit]]


def _mmr(
    matrix: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    k: int,
    lam: float,
) -> list[tuple[int, float]]:
    """Maximal marginal relevance over the candidate rows; returns (row, score) in pick order."""
    order = np.argsort(-scores, kind="stable")
    rows, scores = rows[order], scores[order]
    k = min(k, len(rows))
    if lam >= 1.0 or k <= 1:
        return [(int(rows[i]), float(scores[i])) for i in range(k)]
    # Relevance rescaled to 0..1 over the candidates, so the trade-off with similarity
    # (also 0..1) means the same whatever the fusion's score scale.
    spread = float(scores[0] - scores[-1])
    relevance = (scores - scores[-1]) / spread if spread > 0 else np.ones_like(scores)
    vectors = matrix[rows]
    similarity = vectors @ vectors.T
    picked: list[int] = []
    max_sim = np.full(len(rows), -np.inf)
    available = np.ones(len(rows), dtype=np.bool_)
    for _ in range(k):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = lam * relevance - (1.0 - lam) * penalty
        value[~available] = -np.inf
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, similarity[best])
    return [(int(rows[i]), float(scores[i])) for i in picked]


def fit_to_budget(
    texts: Sequence[str], budget_tokens: int, count_tokens: Callable[[str], int]
) -> list[str]:
    """The texts, in order, that fit in `budget_tokens` (a text that does not fit is skipped)."""
    chosen: list[str] = []
    used = 0
    for text in texts:
        cost = count_tokens(text)
        if used + cost <= budget_tokens:
            chosen.append(text)
            used += cost
    return chosen


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 4 characters per token, at least one per word)."""
    return max(len(text.split()), math.ceil(len(text) / 4))
